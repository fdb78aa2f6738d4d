import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, DEFAULT_SQLITE_PATH, parseDatabaseUrl } from '../../src/store/index.ts';
import { silentLogger } from './harness.ts';

describe('parseDatabaseUrl', () => {
  it('defaults to the SQLite file when unset or blank', () => {
    expect(parseDatabaseUrl(undefined)).toEqual({ kind: 'sqlite', path: DEFAULT_SQLITE_PATH });
    expect(parseDatabaseUrl('')).toEqual({ kind: 'sqlite', path: './data/switchboard.db' });
    expect(parseDatabaseUrl('   ')).toEqual({ kind: 'sqlite', path: './data/switchboard.db' });
  });

  it('accepts sqlite: paths and :memory:', () => {
    expect(parseDatabaseUrl('sqlite:./var/bot.db')).toEqual({ kind: 'sqlite', path: './var/bot.db' });
    expect(parseDatabaseUrl('sqlite:/abs/bot.db')).toEqual({ kind: 'sqlite', path: '/abs/bot.db' });
    expect(parseDatabaseUrl('sqlite:///abs/bot.db')).toEqual({ kind: 'sqlite', path: '/abs/bot.db' });
    expect(parseDatabaseUrl('sqlite://rel/bot.db')).toEqual({ kind: 'sqlite', path: 'rel/bot.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ kind: 'sqlite', path: ':memory:' });
    expect(parseDatabaseUrl('SQLITE:x.db')).toEqual({ kind: 'sqlite', path: 'x.db' });
  });

  it('accepts postgres:// and postgresql:// URLs unchanged', () => {
    const url = 'postgres://bot:s3cret@db.internal:5432/switchboard?sslmode=require';
    expect(parseDatabaseUrl(url)).toEqual({ kind: 'postgres', url });
    expect(parseDatabaseUrl('postgresql://localhost/test')).toEqual({
      kind: 'postgres',
      url: 'postgresql://localhost/test',
    });
  });

  it('takes ?schema=NAME out of a PostgreSQL URL (several processes on one schema)', () => {
    expect(parseDatabaseUrl('postgres://postgres@127.0.0.1:5432/test?schema=bot_a')).toEqual({
      kind: 'postgres',
      url: 'postgres://postgres@127.0.0.1:5432/test',
      schema: 'bot_a',
    });
    expect(parseDatabaseUrl('postgres://u@h/db?sslmode=require&schema=s1')).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db?sslmode=require',
      schema: 's1',
    });
    expect(() => parseDatabaseUrl('postgres://u@h/db?schema=Bad-Name')).toThrow(/schema= must be a PostgreSQL schema name/);
  });

  it.each([
    ['mysql://root@localhost/db', /DATABASE_URL is a "mysql:" URL/],
    ['./data/bot.db', /DATABASE_URL is a value with no URL scheme/],
    ['sqlite:', /needs a path/],
    ['sqlite://', /needs a path/],
    ['postgres://', /no host|not a valid/],
    ['postgres://user:pa ss@[bad/db', /not a valid PostgreSQL URL/],
  ])('rejects %s with a message naming DATABASE_URL and the accepted forms', (url, message) => {
    expect(() => parseDatabaseUrl(url)).toThrow(message);
    expect(() => parseDatabaseUrl(url)).toThrow(/DATABASE_URL.*sqlite:PATH.*sqlite::memory:.*postgres:\/\//);
  });

  it('never echoes the URL, which may hold a password', () => {
    expect(() => parseDatabaseUrl('mysql://root:hunter2@localhost/db')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
    expect(() => parseDatabaseUrl('postgres://u:hunter2@[x/db')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe('createStore', () => {
  it('rejects a bad DATABASE_URL', async () => {
    await expect(createStore('mongodb://x', { logger: silentLogger })).rejects.toThrow(/DATABASE_URL/);
  });

  it('rejects the schema option for SQLite and unsafe schema names for PostgreSQL', async () => {
    await expect(createStore('sqlite::memory:', { logger: silentLogger, schema: 'x' })).rejects.toThrow(/schema/);
    await expect(
      createStore('postgres://127.0.0.1:1/none', { logger: silentLogger, schema: 'x; drop table y' }),
    ).rejects.toThrow(/schema name/);
  });

  it('creates the default SQLite file and its folder when DATABASE_URL is unset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-default-'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const store = await createStore(undefined, { logger: silentLogger });
      await store.migrate();
      expect(store.kind).toBe('sqlite');
      await store.close();
      expect(existsSync(join(dir, 'data', 'switchboard.db'))).toBe(true);
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
