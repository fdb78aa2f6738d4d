/**
 * The one place that reads the environment. Everything else receives a typed
 * Config through its constructor.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { MAX_FALLBACK_MODELS, MAX_MODELS_PER_REQUEST } from './llm/to-openai-request.ts';

/** A bad value as shown in an error: quoted, and cut short (it may be long, or a misplaced secret). */
function shown(value: string): string {
  return value.length > 24 ? `"${value.slice(0, 12)}…" (${value.length} characters)` : `"${value}"`;
}

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/**
 * A number from the environment. Empty (or unset, or a listed word such as
 * "none") gives the fallback; anything else must pass `valid` or is reported
 * as "must be <expected>".
 */
function numberVar<F extends number | null | undefined>(
  fallback: F,
  expected: string,
  valid: (n: number) => boolean,
  emptyWords: readonly string[] = [],
) {
  return z
    .string()
    .trim()
    .optional()
    .transform((v, ctx): number | F => {
      if (v === undefined || v === '' || emptyWords.includes(v.toLowerCase())) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || !valid(n)) {
        ctx.addIssue({ code: 'custom', message: `must be ${expected} (got ${shown(v)})` });
        return z.NEVER;
      }
      return n;
    });
}

/** Slack shows at most four suggested prompts in an assistant thread. */
const MAX_SUGGESTED_PROMPTS = 4;
export const DEFAULT_SUGGESTED_PROMPTS = [
  'Explain this in plain words',
  'Draft a short, friendly reply',
  'Brainstorm five ideas for',
  'Check this for mistakes',
];

/** Put before every Slack command name (`sb-` makes /sb-ask): lowercase letters, digits, - and _. */
const slackCommandPrefix = z
  .string()
  .trim()
  .optional()
  .transform((v) => v ?? '')
  .refine((v) => v === '' || /^[a-z0-9][a-z0-9_-]{0,15}$/.test(v), 'must be up to 16 lowercase letters, digits, - or _ (e.g. sb-), or empty');

const positiveInt = (fallback: number) => numberVar(fallback, 'a whole number above 0', (n) => Number.isInteger(n) && n > 0);

/** A quota default: a number >= 0, or empty/"none" for no limit. */
const quotaValue = (kind: 'count' | 'usd') =>
  kind === 'count'
    ? numberVar(null, 'a whole number of 0 or more, or "none"', (n) => Number.isInteger(n) && n >= 0, ['none'])
    : numberVar(null, 'an amount in USD of 0 or more, or "none"', (n) => n >= 0, ['none']);

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );

const url = (fallback?: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v, ctx) => {
      const value = v === undefined || v === '' ? fallback : v;
      if (value === undefined) return undefined;
      try {
        const parsed = new URL(value);
        if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
        return value.replace(/\/+$/, '');
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be an http(s) URL (got ${shown(value)})` });
        return z.NEVER;
      }
    });

const wholeNumber = (fallback: number) => numberVar(fallback, 'a whole number of 0 or more', (n) => Number.isInteger(n) && n >= 0);

const port = numberVar(undefined, 'a port number from 1 to 65535, or empty to turn it off', (n) => Number.isInteger(n) && n >= 1 && n <= 65535);

/** zdr: zero-data-retention providers only; no-training: providers that neither train on nor keep data; default: any. */
export const PRIVACY_MODES = ['zdr', 'no-training', 'default'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const schema = z.object({
  OPENROUTER_API_KEY: z
    .string({ error: 'is required: create a key at https://openrouter.ai/keys' })
    .trim()
    .min(1, 'is required: create a key at https://openrouter.ai/keys'),
  OPENROUTER_BASE_URL: url('https://openrouter.ai/api/v1'),
  OPENROUTER_APP_URL: url(),
  OPENROUTER_APP_TITLE: optionalString.transform((v) => v ?? 'Switchboard'),
  DEFAULT_MODEL: optionalString
    .transform((v) => v ?? 'openrouter/auto')
    .refine((v) => !/\s/.test(v), 'must be a model id without spaces, e.g. openai/gpt-4o-mini'),
  DEFAULT_FALLBACK_MODELS: list.superRefine((v, ctx) => {
    if (v.length <= MAX_FALLBACK_MODELS) return;
    ctx.addIssue({
      code: 'custom',
      message: `lists ${v.length} models but takes at most ${MAX_FALLBACK_MODELS}: OpenRouter accepts ${MAX_MODELS_PER_REQUEST} models per request (DEFAULT_MODEL plus ${MAX_FALLBACK_MODELS} fallbacks) and rejects more with HTTP 400`,
    });
  }),
  AUTO_ROUTER_MODELS: list.superRefine((v, ctx) => {
    for (const entry of v) {
      if (!/^[\w.-]+\/[\w.:@*-]+$/.test(entry) || entry.startsWith('openrouter/')) {
        ctx.addIssue({
          code: 'custom',
          message: `entries must be model ids or provider patterns such as anthropic/claude-3.5-sonnet or anthropic/* (and not a router such as openrouter/auto); got ${shown(entry)}`,
        });
        return;
      }
    }
  }),
  DEFAULT_MAX_TOKENS: positiveInt(1024),
  DEFAULT_TEMPERATURE: numberVar(undefined, 'a number from 0 to 2', (n) => n >= 0 && n <= 2),
  DEFAULT_SYSTEM_PROMPT: optionalString,
  DEFAULT_TOOLS: z
    .string()
    .optional()
    .transform((v) =>
      v === undefined
        ? ['current_time', 'calculator', 'model_catalog']
        : v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
    ),
  REQUEST_TIMEOUT_MS: positiveInt(120_000),
  OPENROUTER_MAX_RETRIES: wholeNumber(2),
  TOOL_TIMEOUT_MS: positiveInt(10_000),
  TOOL_MAX_ROUNDS: positiveInt(5),
  CATALOG_TTL_MS: positiveInt(600_000),
  MAX_PROMPT_CHARS: positiveInt(8_000),
  DEFAULT_PRIVACY: z
    .string()
    .trim()
    .optional()
    .transform((v) => (v === undefined || v === '' ? 'default' : v.toLowerCase()))
    .pipe(z.enum(PRIVACY_MODES, { error: `must be one of ${PRIVACY_MODES.join(', ')}` })),
  LOG_LEVEL: z
    .string()
    .trim()
    .optional()
    .transform((v) => (v === undefined || v === '' ? 'info' : v.toLowerCase()))
    .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })),
  LOG_PRETTY: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((v) => (v === 'true' ? true : v === 'false' ? false : undefined)),
  DATABASE_URL: optionalString.refine(
    (v) => v === undefined || /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(v),
    'must start with sqlite:, postgres:// or postgresql:// (or be unset for ./data/switchboard.db)',
  ),
  SPOOL_DIR: optionalString,
  CHAT_IMAGE_DIR: optionalString,
  ADMIN_USER_IDS: list.pipe(
    z.array(z.string().regex(/^[a-z]+:[^\s:]+$/, 'entries must look like discord:123456 or slack:U0123ABC')),
  ),
  PLUGINS: list,
  MCP_SERVERS: optionalString,
  MCP_RESULT_MAX_CHARS: positiveInt(20_000),
  ROLE_CACHE_TTL_MS: positiveInt(300_000),
  QUOTA_DEFAULT_REQUESTS_PER_DAY: quotaValue('count'),
  QUOTA_DEFAULT_TOKENS_PER_DAY: quotaValue('count'),
  QUOTA_DEFAULT_USD_PER_DAY: quotaValue('usd'),
  QUOTA_DEFAULT_USD_PER_MONTH: quotaValue('usd'),
  QUOTA_SERVER_USD_PER_MONTH: quotaValue('usd'),
  QUOTA_DM_USD_PER_MONTH: quotaValue('usd'),
  ALLOW_DMS: z
    .enum(['true', 'false', ''], { error: 'must be true or false' })
    .optional()
    .transform((v) => v === 'true'),
  QUOTA_MAX_CONCURRENT: positiveInt(2),
  QUOTA_RESERVATION_TTL_MS: positiveInt(900_000),
  INSTANCE_HEARTBEAT_MS: positiveInt(10_000),
  DISCORD_TOKEN: optionalString,
  DISCORD_API_URL: url(),
  DISCORD_INTERACTIONS_API_URL: url(),
  DISCORD_GUILD_ID: optionalString.refine((v) => v === undefined || /^\d{5,25}$/.test(v), 'must be a numeric guild id'),
  SLACK_BOT_TOKEN: optionalString,
  SLACK_APP_TOKEN: optionalString.refine((v) => v === undefined || v.startsWith('xapp-'), 'must be an app-level token starting with xapp-'),
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_PORT: numberVar(3000, 'a port number from 1 to 65535', (n) => Number.isInteger(n) && n >= 1 && n <= 65535),
  SLACK_API_URL: url(),
  SLACK_COMMAND_PREFIX: slackCommandPrefix,
  SLACK_SUGGESTED_PROMPTS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const prompts = (v ?? '').split('|').map((p) => p.trim()).filter((p) => p !== '');
      if (prompts.length > MAX_SUGGESTED_PROMPTS) {
        ctx.addIssue({ code: 'custom', message: `may list at most ${MAX_SUGGESTED_PROMPTS} prompts separated by | (got ${prompts.length})` });
        return z.NEVER;
      }
      return prompts.length > 0 ? prompts : DEFAULT_SUGGESTED_PROMPTS;
    }),
  SHARD_COUNT: numberVar(undefined, 'the total number of Discord shards, a whole number above 0', (n) => Number.isInteger(n) && n > 0),
  SHARD_IDS: list.transform((ids, ctx) => {
    const numbers = ids.map(Number);
    if (numbers.some((n) => !Number.isInteger(n) || n < 0)) {
      ctx.addIssue({ code: 'custom', message: `must be comma-separated shard numbers from 0, e.g. 0,1 (got "${ids.join(',')}")` });
      return z.NEVER;
    }
    return numbers;
  }),
  METRICS_PORT: port,
  METRICS_HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  SHUTDOWN_GRACE_MS: wholeNumber(10_000),
  BUDGET_ALERT_SHARE: z
    .string()
    .trim()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 0.8;
      const n = Number(v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : v);
      if (!Number.isFinite(n) || n <= 0 || n > 1) {
        ctx.addIssue({ code: 'custom', message: `must be a share of the budget above 0 and at most 1, e.g. 0.8 (or 80%) (got ${shown(v)})` });
        return z.NEVER;
      }
      return n;
    }),
  KEY_CREDIT_ALERT_USD: numberVar(null, 'an amount in USD above 0, or "none"', (n) => n > 0, ['none']),
  BUDGET_ALERT_CHANNEL: list.pipe(
    z
      .array(z.string().regex(/^[a-z]+:[^\s:]+$/, 'entries must look like slack:C0123ABC or discord:123456789 (platform:channelId)'))
      .refine((entries) => new Set(entries.map((e) => e.split(':')[0])).size === entries.length, 'may name one channel per platform'),
  ),
});

/** Every variable Switchboard reads (the README and .env.example list them all). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

export type Env = z.input<typeof schema>;
type Parsed = z.output<typeof schema> & { LOG_LEVEL_SET: boolean };

export interface Config {
  openrouter: {
    apiKey: string;
    baseUrl: string;
    appUrl?: string;
    appTitle: string;
    timeoutMs: number;
    /** Retries of a failed request before anything streamed (429, 5xx, connection errors). */
    maxRetries: number;
    catalogTtlMs: number;
    /**
     * The models openrouter/auto may pick (AUTO_ROUTER_MODELS), sent as the
     * auto-router plugin's allowed_models; the quota reserves for the priciest
     * of them. Empty: any model, reserved at the priciest text model listed.
     */
    autoRouterModels: string[];
  };
  defaults: {
    model: string;
    fallbackModels: string[];
    maxTokens: number;
    temperature?: number;
    systemPrompt: string;
    tools: string[];
    /** DEFAULT_PRIVACY: provider routing for privacy where no channel or server sets one. */
    privacy: (typeof PRIVACY_MODES)[number];
  };
  tools: { timeoutMs: number; maxRounds: number };
  maxPromptChars: number;
  log: { level: (typeof LOG_LEVELS)[number]; pretty: boolean; levelExplicit: boolean };
  databaseUrl?: string;
  /** SPOOL_DIR: where settles the database refused past their retries wait (unset: next to the SQLite file, or ./data/spool). */
  spoolDir?: string;
  /** CHAT_IMAGE_DIR: where `npm run chat` saves the pictures models draw. */
  chatImageDir: string;
  adminUserIds: string[];
  /** ALLOW_DMS: answer direct messages (off by default); DMs are then governed by ADMIN_USER_IDS alone. */
  allowDms: boolean;
  plugins: string[];
  /** MCP_SERVERS: the JSON file listing MCP tool servers; MCP_RESULT_MAX_CHARS caps each result before the model. */
  mcp: { serversFile?: string; resultMaxChars: number };
  /** ROLE_CACHE_TTL_MS: how long a member's roles (Discord) or user groups (Slack) are reused before asking the platform again. */
  roleCacheTtlMs: number;
  quota: {
    requestsPerDay: number | null;
    tokensPerDay: number | null;
    usdPerDay: number | null;
    usdPerMonth: number | null;
    serverUsdPerMonth: number | null;
    /** QUOTA_DM_USD_PER_MONTH: one cap over every direct message on a platform (none by default). */
    dmUsdPerMonth: number | null;
    maxConcurrent: number;
    reservationTtlMs: number;
  };
  /**
   * How often this process records that it is alive. Another process treats it
   * as dead after 3 intervals without one: frees its reservations and marks the
   * answers it left half-written as interrupted.
   */
  instanceHeartbeatMs: number;
  discord?: {
    token: string;
    /** REST base, e.g. an @discordjs/proxy or a test fake; discord.js's default when unset. */
    apiUrl?: string;
    /**
     * Where interaction acknowledgements go instead of apiUrl (a fleet's proxy):
     * Discord's own API. They share no bucket with any other request or process,
     * and Discord allows 3 s for them, so a hop through a busy proxy only costs.
     */
    interactionsApiUrl?: string;
    /** Register commands to this guild only (instant) instead of globally. */
    guildId?: string;
    /**
     * Sharding (SHARD_COUNT, SHARD_IDS): the total shard count and the shards
     * this process serves (all of them when SHARD_IDS is unset). The adapter
     * passes them to discord.js as `shardCount` and `shards`.
     */
    shardCount?: number;
    shardIds?: number[];
  };
  slack?: {
    botToken: string;
    /** Socket Mode when set. */
    appToken?: string;
    /** HTTP mode (required without appToken). */
    signingSecret?: string;
    port: number;
    apiUrl?: string;
    /** SLACK_COMMAND_PREFIX: before every command name, in the manifest and the handlers ('' for none). */
    commandPrefix: string;
    /** SLACK_SUGGESTED_PROMPTS: offered when an assistant thread opens (at most 4). */
    suggestedPrompts: string[];
  };
  ops: {
    /** /metrics and /healthz listen here when set. */
    metricsPort?: number;
    metricsHost: string;
    /** How long running answers may finish after SIGTERM/SIGINT before they are interrupted. */
    shutdownGraceMs: number;
  };
  budgetAlert: {
    /** Share of the server's usd-per-month budget that triggers the monthly alert. */
    share: number;
    /** Where to post it, per platform: platform -> channel id. */
    channels: Record<string, string>;
    /** KEY_CREDIT_ALERT_USD: alert once a month when the OpenRouter key's remaining credit falls below this (null: never). */
    keyCreditUsd: number | null;
  };
  /** Every secret value, for log scrubbing. */
  secrets: string[];
}

/** Where the terminal chat saves pictures unless CHAT_IMAGE_DIR says otherwise (relative to the working directory). */
export const DEFAULT_CHAT_IMAGE_DIR = './switchboard-images';

export const DEFAULT_SYSTEM_PROMPT =
  'You are Switchboard, a helpful assistant in a team chat. Answer concisely and use Markdown.';

/** A configuration problem: one readable message naming each bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Switchboard cannot start; fix these environment variables (in the environment or .env, see .env.example):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = schema.superRefine((e, ctx) => {
    if (e.SLACK_BOT_TOKEN && !e.SLACK_APP_TOKEN && !e.SLACK_SIGNING_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: 'is required for Slack in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)',
      });
    }
    if (e.SHARD_IDS.length > 0 && e.SHARD_COUNT === undefined) {
      ctx.addIssue({ code: 'custom', path: ['SHARD_IDS'], message: 'needs SHARD_COUNT (the total number of shards across all processes)' });
    }
    if (e.SHARD_COUNT !== undefined && e.SHARD_IDS.some((id) => id >= e.SHARD_COUNT!)) {
      ctx.addIssue({ code: 'custom', path: ['SHARD_IDS'], message: `must each be below SHARD_COUNT (${e.SHARD_COUNT}); shards are numbered from 0` });
    }
  }).safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = issue.path[0] === undefined ? 'environment' : String(issue.path[0]);
      return `${name} ${issue.message}`;
    });
    throw new ConfigError([...new Set(problems)]);
  }
  return toConfig({ ...result.data, LOG_LEVEL_SET: Boolean(env.LOG_LEVEL?.trim()) });
}

/**
 * The password in DATABASE_URL (user:PASSWORD@ or ?password=), as written and
 * decoded: drivers echo URLs and connection settings into their errors.
 */
export function databasePasswords(url: string | undefined): string[] {
  if (!url || !/^postgres(ql)?:\/\//i.test(url.trim())) return [];
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return [];
  }
  const raw = [parsed.password, parsed.searchParams.get('password') ?? ''].filter((p) => p !== '');
  const decoded = raw.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return [...new Set([...raw, ...decoded])];
}

function toConfig(e: Parsed): Config {
  const secrets = [e.OPENROUTER_API_KEY, e.DISCORD_TOKEN, e.SLACK_BOT_TOKEN, e.SLACK_APP_TOKEN, e.SLACK_SIGNING_SECRET, ...databasePasswords(e.DATABASE_URL)].filter(
    (s): s is string => typeof s === 'string' && s.length >= 6,
  );
  return {
    openrouter: {
      apiKey: e.OPENROUTER_API_KEY,
      baseUrl: e.OPENROUTER_BASE_URL ?? 'https://openrouter.ai/api/v1',
      appUrl: e.OPENROUTER_APP_URL,
      appTitle: e.OPENROUTER_APP_TITLE,
      timeoutMs: e.REQUEST_TIMEOUT_MS,
      maxRetries: e.OPENROUTER_MAX_RETRIES,
      catalogTtlMs: e.CATALOG_TTL_MS,
      autoRouterModels: [...new Set(e.AUTO_ROUTER_MODELS)],
    },
    defaults: {
      model: e.DEFAULT_MODEL,
      fallbackModels: e.DEFAULT_FALLBACK_MODELS,
      maxTokens: e.DEFAULT_MAX_TOKENS,
      temperature: e.DEFAULT_TEMPERATURE,
      systemPrompt: e.DEFAULT_SYSTEM_PROMPT ?? DEFAULT_SYSTEM_PROMPT,
      tools: e.DEFAULT_TOOLS,
      privacy: e.DEFAULT_PRIVACY,
    },
    tools: { timeoutMs: e.TOOL_TIMEOUT_MS, maxRounds: e.TOOL_MAX_ROUNDS },
    maxPromptChars: e.MAX_PROMPT_CHARS,
    log: { level: e.LOG_LEVEL, levelExplicit: e.LOG_LEVEL_SET, pretty: e.LOG_PRETTY ?? (process.stdout.isTTY && process.env.NODE_ENV !== 'production') },
    databaseUrl: e.DATABASE_URL,
    spoolDir: e.SPOOL_DIR,
    chatImageDir: e.CHAT_IMAGE_DIR ?? DEFAULT_CHAT_IMAGE_DIR,
    adminUserIds: e.ADMIN_USER_IDS,
    allowDms: e.ALLOW_DMS,
    plugins: e.PLUGINS,
    mcp: { serversFile: e.MCP_SERVERS, resultMaxChars: e.MCP_RESULT_MAX_CHARS },
    roleCacheTtlMs: e.ROLE_CACHE_TTL_MS,
    quota: {
      requestsPerDay: e.QUOTA_DEFAULT_REQUESTS_PER_DAY,
      tokensPerDay: e.QUOTA_DEFAULT_TOKENS_PER_DAY,
      usdPerDay: e.QUOTA_DEFAULT_USD_PER_DAY,
      usdPerMonth: e.QUOTA_DEFAULT_USD_PER_MONTH,
      serverUsdPerMonth: e.QUOTA_SERVER_USD_PER_MONTH,
      dmUsdPerMonth: e.QUOTA_DM_USD_PER_MONTH,
      maxConcurrent: e.QUOTA_MAX_CONCURRENT,
      reservationTtlMs: e.QUOTA_RESERVATION_TTL_MS,
    },
    instanceHeartbeatMs: e.INSTANCE_HEARTBEAT_MS,
    discord: e.DISCORD_TOKEN
      ? {
          token: e.DISCORD_TOKEN,
          apiUrl: e.DISCORD_API_URL,
          interactionsApiUrl: e.DISCORD_INTERACTIONS_API_URL,
          guildId: e.DISCORD_GUILD_ID,
          ...(e.SHARD_COUNT === undefined
            ? {}
            : {
                shardCount: e.SHARD_COUNT,
                shardIds: e.SHARD_IDS.length > 0 ? [...new Set(e.SHARD_IDS)].sort((a, b) => a - b) : [...Array(e.SHARD_COUNT).keys()],
              }),
        }
      : undefined,
    slack: e.SLACK_BOT_TOKEN
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          appToken: e.SLACK_APP_TOKEN,
          signingSecret: e.SLACK_SIGNING_SECRET,
          port: e.SLACK_PORT,
          apiUrl: e.SLACK_API_URL,
          commandPrefix: e.SLACK_COMMAND_PREFIX,
          suggestedPrompts: e.SLACK_SUGGESTED_PROMPTS,
        }
      : undefined,
    ops: { metricsPort: e.METRICS_PORT, metricsHost: e.METRICS_HOST, shutdownGraceMs: e.SHUTDOWN_GRACE_MS },
    budgetAlert: {
      share: e.BUDGET_ALERT_SHARE,
      keyCreditUsd: e.KEY_CREDIT_ALERT_USD,
      channels: Object.fromEntries(e.BUDGET_ALERT_CHANNEL.map((entry) => [entry.slice(0, entry.indexOf(':')), entry.slice(entry.indexOf(':') + 1)])),
    },
    secrets,
  };
}

/**
 * For scripts that only open the store (npm run usage:report): validates
 * DATABASE_URL alone, so they run without OPENROUTER_API_KEY.
 */
export function loadStoreConfig(envFile = '.env'): { databaseUrl?: string } {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  const result = schema.pick({ DATABASE_URL: true }).safeParse(process.env);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => `DATABASE_URL ${issue.message}`));
  return { databaseUrl: result.data.DATABASE_URL };
}

/** For `npm run slack:manifest`: the Slack command prefix and suggested prompts alone (no tokens needed). */
export function loadSlackManifestConfig(envFile = '.env'): { commandPrefix: string; suggestedPrompts: string[] } {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  const result = schema.pick({ SLACK_COMMAND_PREFIX: true, SLACK_SUGGESTED_PROMPTS: true }).safeParse(process.env);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => `${String(issue.path[0])} ${issue.message}`));
  return { commandPrefix: result.data.SLACK_COMMAND_PREFIX, suggestedPrompts: result.data.SLACK_SUGGESTED_PROMPTS };
}

/**
 * For entry points: the config, or undefined after writing the readable
 * ConfigError message (never a stack trace) to standard error.
 */
export function loadConfigOrExplain(load: () => Config = loadConfig): Config | undefined {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return undefined;
  }
}

/** Reads `.env` (when present) into process.env without overriding what is set, then parses. */
export function loadConfig(envFile = '.env'): Config {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  return parseConfig(process.env);
}
