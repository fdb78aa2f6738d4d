/**
 * What OpenRouter knows about our key and our answers: `GET /key` (credit
 * limit, remaining, usage) and `GET /generation?id=` (provider, native tokens,
 * cost, latency of one answer). Through the openai SDK, like every call to
 * OpenRouter, so retries, timeouts and headers behave the same.
 */
import OpenAI, { NotFoundError } from 'openai';
import { z } from 'zod';
import { createHttpFetch } from '../http-fetch.ts';
import { classifyError } from './errors.ts';

/** The key's state; USD amounts. `null` limit: the key has none. */
export interface KeyState {
  label?: string;
  limitUsd: number | null;
  remainingUsd: number | null;
  /** ISO date or a period word (e.g. "monthly") when the limit resets; null when it does not. */
  limitReset: string | null;
  usageUsd: number;
  usageDailyUsd?: number;
  usageWeeklyUsd?: number;
  usageMonthlyUsd?: number;
  isFreeTier: boolean;
}

/** One answer as OpenRouter recorded it. */
export interface GenerationInfo {
  id: string;
  model?: string;
  providerName: string | null;
  nativeTokensPrompt: number | null;
  nativeTokensCompletion: number | null;
  nativeTokensReasoning: number | null;
  nativeTokensCached: number | null;
  totalCostUsd: number | null;
  latencyMs: number | null;
}

export interface OpenRouterAccount {
  keyState(): Promise<KeyState>;
  /** Undefined when OpenRouter does not know the id (404). */
  generation(id: string): Promise<GenerationInfo | undefined>;
}

export interface OpenRouterAccountOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  maxRetries?: number;
}

const num = z.number().nullish().transform((v) => v ?? null);

const keySchema = z.object({
  data: z.object({
    label: z.string().nullish(),
    limit: num,
    limit_remaining: num,
    limit_reset: z.string().nullish().transform((v) => v ?? null),
    usage: z.number().nullish().transform((v) => v ?? 0),
    usage_daily: z.number().nullish(),
    usage_weekly: z.number().nullish(),
    usage_monthly: z.number().nullish(),
    is_free_tier: z.boolean().nullish().transform((v) => v ?? false),
  }),
});

const generationSchema = z.object({
  data: z.object({
    id: z.string(),
    model: z.string().nullish(),
    provider_name: z.string().nullish().transform((v) => v ?? null),
    native_tokens_prompt: num,
    native_tokens_completion: num,
    native_tokens_reasoning: num,
    native_tokens_cached: num,
    total_cost: num,
    latency: num,
  }),
});

export function createOpenRouterAccount(opts: OpenRouterAccountOptions): OpenRouterAccount {
  const client = new OpenAI({
    apiKey: opts.apiKey,
    baseURL: opts.baseUrl,
    timeout: opts.timeoutMs,
    maxRetries: opts.maxRetries ?? 2,
    fetch: createHttpFetch(),
    organization: null,
    project: null,
    logLevel: 'off',
  });
  const secrets = [opts.apiKey];

  return {
    async keyState() {
      try {
        const { data } = keySchema.parse(await client.get('/key'));
        return toKeyState(data);
      } catch (error) {
        throw classifyError(error, { secrets });
      }
    },
    async generation(id) {
      try {
        const { data } = generationSchema.parse(await client.get('/generation', { query: { id } }));
        return toGenerationInfo(data);
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw classifyError(error, { secrets });
      }
    },
  };
}

function toKeyState(d: z.infer<typeof keySchema>['data']): KeyState {
  const state: KeyState = {
    limitUsd: d.limit,
    remainingUsd: d.limit_remaining,
    limitReset: d.limit_reset,
    usageUsd: d.usage,
    isFreeTier: d.is_free_tier,
  };
  if (d.label) state.label = d.label;
  if (typeof d.usage_daily === 'number') state.usageDailyUsd = d.usage_daily;
  if (typeof d.usage_weekly === 'number') state.usageWeeklyUsd = d.usage_weekly;
  if (typeof d.usage_monthly === 'number') state.usageMonthlyUsd = d.usage_monthly;
  return state;
}

function toGenerationInfo(d: z.infer<typeof generationSchema>['data']): GenerationInfo {
  return {
    id: d.id,
    ...(d.model ? { model: d.model } : {}),
    providerName: d.provider_name,
    nativeTokensPrompt: d.native_tokens_prompt,
    nativeTokensCompletion: d.native_tokens_completion,
    nativeTokensReasoning: d.native_tokens_reasoning,
    nativeTokensCached: d.native_tokens_cached,
    totalCostUsd: d.total_cost,
    latencyMs: d.latency,
  };
}
