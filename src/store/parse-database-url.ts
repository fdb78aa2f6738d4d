/** Where the store lives, decided from DATABASE_URL. */
export type DatabaseLocation =
  | { kind: 'sqlite'; /** A file path, or ':memory:'. */ path: string }
  | {
      kind: 'postgres';
      /** The connection URL without Switchboard's own `schema` parameter. */
      url: string;
      /** `?schema=NAME`: keep every table in this PostgreSQL schema (created on migrate). */
      schema?: string;
    };

export const DEFAULT_SQLITE_PATH = './data/switchboard.db';

const ACCEPTED =
  `unset (SQLite at ${DEFAULT_SQLITE_PATH}), sqlite:PATH, sqlite::memory:, ` +
  'or postgres://USER:PASSWORD@HOST:PORT/DATABASE[?schema=NAME] (postgresql:// also works)';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Pure: no files are touched and no connection is made. The error never echoes
 * the URL itself, which may hold a password.
 */
export function parseDatabaseUrl(url: string | undefined): DatabaseLocation {
  if (url === undefined || url.trim() === '') return { kind: 'sqlite', path: DEFAULT_SQLITE_PATH };
  const value = url.trim();

  if (/^sqlite:/i.test(value)) {
    // sqlite:PATH, plus the common sqlite://PATH and sqlite:///abs/path spellings.
    let path = value.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new Error(`DATABASE_URL "sqlite:" needs a path after the colon. Accepted: ${ACCEPTED}.`);
    return { kind: 'sqlite', path };
  }

  if (/^postgres(ql)?:\/\//i.test(value)) {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new Error(`DATABASE_URL is not a valid PostgreSQL URL. Accepted: ${ACCEPTED}.`);
    }
    if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
      throw new Error(`DATABASE_URL has no host. Accepted: ${ACCEPTED}.`);
    }
    const schema = parsed.searchParams.get('schema');
    if (schema === null) return { kind: 'postgres', url: value };
    if (!SCHEMA_NAME.test(schema)) {
      throw new Error('DATABASE_URL ?schema= must be a PostgreSQL schema name of lower case letters, digits and _ (starting with a letter or _).');
    }
    parsed.searchParams.delete('schema');
    return { kind: 'postgres', url: parsed.toString(), schema };
  }

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1];
  const got = scheme === undefined ? 'a value with no URL scheme' : `a "${scheme}:" URL`;
  throw new Error(`DATABASE_URL is ${got}, which Switchboard cannot use. Accepted: ${ACCEPTED}.`);
}
