/**
 * The real entry points as a user runs them: `npm run chat` piped, and
 * `npm start` without a platform or with bad configuration.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryArgs } from '../../helpers/entry-point.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../../fakes/openrouter.ts';

const KEY = 'sk-or-v1-process-test-abcdef123456';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, env: Record<string, string>, input = ''): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, entryArgs(script), {
      cwd: workDir,
      // A clean environment: only what the test gives plus PATH/HOME.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

let workDir: string;
let openrouter: FakeOpenRouter;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'switchboard-proc-'));
  openrouter = await startFakeOpenRouter({ apiKey: KEY });
});

afterAll(async () => {
  await openrouter.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('npm run chat, piped', () => {
  it('switches models, streams answers, refuses past the quota, and exits at end of input', async () => {
    const result = await run(
      'src/platforms/console/main.ts',
      {
        OPENROUTER_API_KEY: KEY,
        OPENROUTER_BASE_URL: openrouter.url,
        DATABASE_URL: `sqlite:${join(workDir, 'chat.db')}`,
        QUOTA_DEFAULT_REQUESTS_PER_DAY: '2',
      },
      ['/model set anthropic/claude-3.5-sonnet', 'Hello there', 'Second one', 'Third one', '/usage', ''].join('\n'),
    );
    expect(result.stderr).not.toContain(KEY);
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain('The model for this channel is now `anthropic/claude-3.5-sonnet`');
    expect(out).toContain('You said: Hello there\n— anthropic/claude-3.5-sonnet · ');
    expect(out).toContain('You said: Second one\n— anthropic/claude-3.5-sonnet · ');
    expect(out).toMatch(/You have reached your daily request limit: 2 used of 2/);
    expect(out).toContain('Requests today: 2 of 2 (0 left)');
    expect(out).not.toContain(KEY);
    const models = openrouter.chatRequests().map((r) => r.body?.model);
    expect(models).toEqual(['anthropic/claude-3.5-sonnet', 'anthropic/claude-3.5-sonnet']);
  });

  it('exits with a readable message naming the missing key', async () => {
    const result = await run('src/platforms/console/main.ts', { DATABASE_URL: 'sqlite::memory:' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('OPENROUTER_API_KEY is required');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('npm start', () => {
  it('without a chat platform, says which variables to set and points to npm run chat', async () => {
    const result = await run('src/main.ts', { OPENROUTER_API_KEY: KEY, DATABASE_URL: 'sqlite::memory:' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('DISCORD_TOKEN');
    expect(result.stderr).toContain('SLACK_BOT_TOKEN');
    expect(result.stderr).toContain('npm run chat');
  });

  it('with bad values, names each variable and never prints a stack trace', async () => {
    const result = await run('src/main.ts', { OPENROUTER_API_KEY: KEY, DEFAULT_MAX_TOKENS: 'many', LOG_LEVEL: 'loud' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('DEFAULT_MAX_TOKENS must be a whole number above 0 (got "many")');
    expect(result.stderr).toContain('LOG_LEVEL');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
