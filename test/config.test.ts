import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_VARIABLES, ConfigError, loadConfig, parseConfig } from '../src/config.ts';

const base = { OPENROUTER_API_KEY: 'sk-or-v1-test-key-123456' };

function problems(env: Record<string, string | undefined>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('applies the documented defaults', () => {
    const config = parseConfig(base);
    expect(config.openrouter.baseUrl).toBe('https://openrouter.ai/api/v1');
    expect(config.openrouter.appTitle).toBe('Switchboard');
    expect(config.defaults.model).toBe('openrouter/auto');
    expect(config.defaults.fallbackModels).toEqual([]);
    expect(config.defaults.maxTokens).toBe(1024);
    expect(config.defaults.tools).toEqual(['current_time', 'calculator', 'model_catalog']);
    expect(config.openrouter.timeoutMs).toBe(120_000);
    expect(config.log.level).toBe('info');
    expect(config.log.levelExplicit).toBe(false);
    expect(config.quota.maxConcurrent).toBe(2);
    expect(config.quota.requestsPerDay).toBeNull();
    expect(config.discord).toBeUndefined();
    expect(config.slack).toBeUndefined();
    expect(config.secrets).toEqual([base.OPENROUTER_API_KEY]);
  });

  it('reads every variable it documents', () => {
    const config = parseConfig({
      ...base,
      OPENROUTER_BASE_URL: 'http://127.0.0.1:9999/api/v1/',
      OPENROUTER_APP_URL: 'https://example.org',
      OPENROUTER_APP_TITLE: 'My Bot',
      DEFAULT_MODEL: 'openai/gpt-4o-mini',
      DEFAULT_FALLBACK_MODELS: 'a/b, c/d ,',
      DEFAULT_MAX_TOKENS: '2048',
      DEFAULT_TEMPERATURE: '0.5',
      DEFAULT_TOOLS: '',
      REQUEST_TIMEOUT_MS: '5000',
      LOG_LEVEL: 'DEBUG',
      ADMIN_USER_IDS: 'discord:123,slack:U0ABC',
      QUOTA_DEFAULT_REQUESTS_PER_DAY: '50',
      QUOTA_DEFAULT_USD_PER_MONTH: '2.5',
      QUOTA_DEFAULT_TOKENS_PER_DAY: 'none',
      DATABASE_URL: 'sqlite::memory:',
      DISCORD_TOKEN: 'discord-token-abcdef',
    });
    expect(config.openrouter.baseUrl).toBe('http://127.0.0.1:9999/api/v1');
    expect(config.openrouter.appUrl).toBe('https://example.org');
    expect(config.openrouter.appTitle).toBe('My Bot');
    expect(config.defaults.fallbackModels).toEqual(['a/b', 'c/d']);
    expect(config.defaults.maxTokens).toBe(2048);
    expect(config.defaults.temperature).toBe(0.5);
    expect(config.defaults.tools).toEqual([]);
    expect(config.openrouter.timeoutMs).toBe(5000);
    expect(config.log).toMatchObject({ level: 'debug', levelExplicit: true });
    expect(config.adminUserIds).toEqual(['discord:123', 'slack:U0ABC']);
    expect(config.quota).toMatchObject({ requestsPerDay: 50, usdPerMonth: 2.5, tokensPerDay: null });
    expect(config.databaseUrl).toBe('sqlite::memory:');
    expect(config.discord).toEqual({ token: 'discord-token-abcdef' });
    expect(config.secrets).toContain('discord-token-abcdef');
  });

  it('AUTO_ROUTER_MODELS takes ids and provider patterns, and refuses routers and junk by name', () => {
    expect(parseConfig(base).openrouter.autoRouterModels).toEqual([]);
    expect(parseConfig({ ...base, AUTO_ROUTER_MODELS: 'anthropic/*, openai/gpt-4o-mini ,anthropic/*' }).openrouter.autoRouterModels).toEqual([
      'anthropic/*',
      'openai/gpt-4o-mini',
    ]);
    for (const bad of ['openrouter/auto', 'claude', 'anthropic/claude 3', 'a/b/c']) {
      const text = problems({ ...base, AUTO_ROUTER_MODELS: bad }).join('\n');
      expect(text).toContain('AUTO_ROUTER_MODELS entries must be model ids or provider patterns');
    }
  });

  it('DEFAULT_FALLBACK_MODELS refuses more than 2 fallbacks, naming the limit', () => {
    expect(parseConfig({ ...base, DEFAULT_FALLBACK_MODELS: 'a/b,c/d' }).defaults.fallbackModels).toEqual(['a/b', 'c/d']);
    const text = problems({ ...base, DEFAULT_FALLBACK_MODELS: 'a/b, c/d, e/f' }).join('\n');
    expect(text).toContain('DEFAULT_FALLBACK_MODELS');
    expect(text).toContain('takes at most 2');
    expect(text).toContain('OpenRouter accepts 3 models per request');
  });

  it('names every bad variable in one readable message', () => {
    const list = problems({
      DEFAULT_MAX_TOKENS: 'lots',
      REQUEST_TIMEOUT_MS: '-5',
      LOG_LEVEL: 'loud',
      OPENROUTER_BASE_URL: 'ftp://x',
      QUOTA_DEFAULT_USD_PER_DAY: '-1',
      QUOTA_DEFAULT_REQUESTS_PER_DAY: '1.5',
      DATABASE_URL: 'mysql://x',
      ADMIN_USER_IDS: 'bob',
      DEFAULT_MODEL: 'has space',
    });
    const text = list.join('\n');
    for (const name of [
      'OPENROUTER_API_KEY',
      'DEFAULT_MAX_TOKENS',
      'REQUEST_TIMEOUT_MS',
      'LOG_LEVEL',
      'OPENROUTER_BASE_URL',
      'QUOTA_DEFAULT_USD_PER_DAY',
      'QUOTA_DEFAULT_REQUESTS_PER_DAY',
      'DATABASE_URL',
      'ADMIN_USER_IDS',
      'DEFAULT_MODEL',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toContain('is required');
    expect(text).not.toMatch(/at .*\.ts:\d+/);
    const error = (() => {
      try {
        parseConfig({});
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/^Switchboard cannot start/);
    expect(error?.message).toContain('.env.example');
  });

  it('treats an empty API key as missing', () => {
    expect(problems({ OPENROUTER_API_KEY: '   ' }).join()).toContain('OPENROUTER_API_KEY is required');
  });
});

describe('documentation of the configuration', () => {
  it('.env.example and the README list every variable the schema reads', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const listed = [...example.matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...CONFIG_VARIABLES].sort());
    for (const name of CONFIG_VARIABLES) expect(readme).toContain(`\`${name}\``);
    // Each variable in .env.example has a comment line right above it.
    const lines = example.split('\n');
    lines.forEach((line, i) => {
      if (/^[A-Z][A-Z0-9_]+=/.test(line)) expect(lines[i - 1]).toMatch(/^# /);
    });
  });

  it('loads a .env file without overriding the real environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'OPENROUTER_API_KEY=from-dotenv-123456\nDEFAULT_MODEL=dotenv/model\nSB_TEST_MARKER=1\n');
    const saved = { ...process.env };
    try {
      delete process.env.OPENROUTER_API_KEY;
      process.env.DEFAULT_MODEL = 'env/model';
      const config = loadConfig(file);
      expect(config.openrouter.apiKey).toBe('from-dotenv-123456');
      expect(config.defaults.model).toBe('env/model');
      expect(loadConfig(join(dir, 'missing.env')).openrouter.apiKey).toBe('from-dotenv-123456');
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('operations and sharding variables', () => {
  it('has defaults and reads each one', () => {
    const defaults = parseConfig(base);
    expect(defaults.ops).toEqual({ metricsPort: undefined, metricsHost: '0.0.0.0', shutdownGraceMs: 10_000 });
    expect(defaults.budgetAlert).toEqual({ share: 0.8, channels: {}, keyCreditUsd: null });
    const config = parseConfig({
      ...base,
      METRICS_PORT: '9464',
      METRICS_HOST: '127.0.0.1',
      SHUTDOWN_GRACE_MS: '0',
      BUDGET_ALERT_SHARE: '90%',
      BUDGET_ALERT_CHANNEL: 'slack:C0123ABC, discord:456',
      KEY_CREDIT_ALERT_USD: '2.5',
      DISCORD_TOKEN: 'discord-token-abcdef',
      SHARD_COUNT: '4',
      SHARD_IDS: '3,1',
    });
    expect(config.ops).toEqual({ metricsPort: 9464, metricsHost: '127.0.0.1', shutdownGraceMs: 0 });
    expect(config.budgetAlert).toEqual({ share: 0.9, channels: { slack: 'C0123ABC', discord: '456' }, keyCreditUsd: 2.5 });
    expect(config.discord).toMatchObject({ shardCount: 4, shardIds: [1, 3] });
    expect(parseConfig({ ...base, DISCORD_TOKEN: 'discord-token-abcdef', SHARD_COUNT: '3' }).discord).toMatchObject({ shardCount: 3, shardIds: [0, 1, 2] });
    expect(parseConfig({ ...base, DISCORD_TOKEN: 'discord-token-abcdef' }).discord?.shardCount).toBeUndefined();
  });

  it('names bad values', () => {
    const text = problems({
      ...base,
      METRICS_PORT: '70000',
      SHUTDOWN_GRACE_MS: '-1',
      BUDGET_ALERT_SHARE: '1.5',
      BUDGET_ALERT_CHANNEL: 'C0123',
      SHARD_IDS: '0,x',
    }).join('\n');
    expect(text).toContain('METRICS_PORT must be a port number from 1 to 65535');
    expect(text).toContain('SHUTDOWN_GRACE_MS must be a whole number of 0 or more');
    expect(text).toContain('BUDGET_ALERT_SHARE must be a share of the budget above 0 and at most 1');
    expect(text).toContain('BUDGET_ALERT_CHANNEL entries must look like slack:C0123ABC');
    expect(text).toContain('SHARD_IDS must be comma-separated shard numbers');
    expect(problems({ ...base, SHARD_IDS: '0' }).join()).toContain('SHARD_IDS needs SHARD_COUNT');
    expect(problems({ ...base, SHARD_COUNT: '2', SHARD_IDS: '2' }).join()).toContain('SHARD_IDS must each be below SHARD_COUNT (2)');
    expect(problems({ ...base, BUDGET_ALERT_CHANNEL: 'slack:C1,slack:C2' }).join()).toContain('BUDGET_ALERT_CHANNEL may name one channel per platform');
  });
});
