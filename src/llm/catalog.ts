import type { Logger } from 'pino';
import { z } from 'zod';
import { systemClock, type Clock } from '../util/clock.ts';
import { redactSecrets } from './errors.ts';
import { rankModels, suggestIds } from './model-search.ts';
import { isVariablePrice, matchesModelPattern, worstCasePricing } from './pricing.ts';
import type { ModelCatalog, ModelInfo, ModelPricing } from './types.ts';

export interface ModelCatalogOptions {
  /** OpenRouter base, e.g. https://openrouter.ai/api/v1 */
  baseUrl: string;
  apiKey?: string;
  /** How long a loaded list counts as fresh (default 10 min). */
  ttlMs?: number;
  logger: Logger;
  clock?: Clock;
  fetchImpl?: typeof fetch;
  /** Extra request headers (attribution). */
  headers?: Record<string, string>;
  /** Give up on one GET /models after this long (default 15 s). */
  fetchTimeoutMs?: number;
  /** After a failed load, wait this long before trying again (default min(ttl, 30 s)). */
  retryAfterFailureMs?: number;
}

const DEFAULT_TTL_MS = 10 * 60_000;

const priceField = z.union([z.string(), z.number()]).nullish();

const RawModel = z.object({
  id: z.string().min(1),
  name: z.string().nullish(),
  description: z.string().nullish(),
  context_length: z.number().nullish(),
  pricing: z.object({ prompt: priceField, completion: priceField, request: priceField, image: priceField }).nullish(),
  top_provider: z.object({ context_length: z.number().nullish(), max_completion_tokens: z.number().nullish() }).nullish(),
  supported_parameters: z.array(z.string()).nullish(),
  architecture: z.object({ output_modalities: z.array(z.string()).nullish(), input_modalities: z.array(z.string()).nullish() }).nullish(),
});

const ModelsBody = z.object({ data: z.array(z.unknown()) });

/**
 * Unparseable prices count as variable (-1), which pricing treats as unknown.
 * A missing prompt or completion price is unknown too (reading it as zero
 * would call the model free); a missing per-request price is zero.
 */
function toPrice(value: string | number | null | undefined, missing: 0 | -1): number {
  if (value === undefined || value === null || value === '') return missing;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : -1;
}

export function toModelInfo(raw: z.infer<typeof RawModel>): ModelInfo {
  const pricing: ModelPricing = {
    prompt: toPrice(raw.pricing?.prompt, -1),
    completion: toPrice(raw.pricing?.completion, -1),
    request: toPrice(raw.pricing?.request, 0),
  };
  const outputModalities = raw.architecture?.output_modalities ?? undefined;
  const inputModalities = raw.architecture?.input_modalities ?? undefined;
  const image = toPrice(raw.pricing?.image, 0);
  // A per-image price rides along only when there is one (a variable one counts as unknown, never as free).
  if (image !== 0) pricing.image = image;
  const maxCompletion = raw.top_provider?.max_completion_tokens;
  const description = raw.description ?? undefined;
  return {
    id: raw.id,
    name: raw.name ?? raw.id,
    ...(description ? { description } : {}),
    contextLength: raw.context_length ?? raw.top_provider?.context_length ?? 0,
    ...(typeof maxCompletion === 'number' ? { maxCompletionTokens: maxCompletion } : {}),
    pricing,
    supportedParameters: raw.supported_parameters ?? [],
    isFree: raw.id.endsWith(':free') || (pricing.prompt === 0 && pricing.completion === 0 && pricing.request === 0),
    ...(outputModalities ? { outputModalities } : {}),
    ...(inputModalities ? { inputModalities } : {}),
  };
}

/** Gives every variable-price model the most it may cost, so /models and /model can say so. */
function attachCeilings(models: ModelInfo[]): void {
  const ceiling = worstCasePricing(models);
  if (!ceiling) return;
  for (const model of models) {
    if (isVariablePrice(model.pricing) && !model.id.endsWith(':free')) model.ceilingPricing = ceiling;
  }
}

/**
 * OpenRouter's model list, cached in memory. Stale entries are served while one
 * background fetch refreshes them; a catalog that cannot be loaded answers
 * "unknown" and logs a warning instead of failing the caller.
 */
export function createModelCatalog(opts: ModelCatalogOptions): ModelCatalog {
  const clock = opts.clock ?? systemClock;
  const fetchImpl = opts.fetchImpl ?? fetch;
  const ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
  const retryAfterFailureMs = opts.retryAfterFailureMs ?? Math.min(ttlMs, 30_000);
  const fetchTimeoutMs = opts.fetchTimeoutMs ?? 15_000;
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/models`;
  const secrets = opts.apiKey ? [opts.apiKey] : [];
  const closer = new AbortController();

  let byId: Map<string, ModelInfo> | undefined;
  let list: ModelInfo[] = [];
  let loadedAt = 0;
  let lastFailureAt: number | undefined;
  let inFlight: Promise<void> | undefined;
  /** ceiling() per allow-list, for the loaded list (the quota asks on every answer). */
  let ceilings = new Map<string, ModelPricing | undefined>();

  async function fetchOnce(): Promise<void> {
    const started = clock.now();
    try {
      const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
      if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;
      const response = await fetchImpl(url, {
        headers,
        signal: AbortSignal.any([closer.signal, AbortSignal.timeout(fetchTimeoutMs)]),
      });
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        throw new Error(`GET /models answered ${response.status}`);
      }
      const body = ModelsBody.parse(await response.json());
      const models: ModelInfo[] = [];
      let skipped = 0;
      for (const entry of body.data) {
        const parsed = RawModel.safeParse(entry);
        if (parsed.success) models.push(toModelInfo(parsed.data));
        else skipped++;
      }
      if (closer.signal.aborted) return;
      models.sort((a, b) => a.id.localeCompare(b.id));
      attachCeilings(models);
      list = models;
      byId = new Map(models.map((m) => [m.id, m]));
      ceilings = new Map();
      loadedAt = clock.now();
      lastFailureAt = undefined;
      opts.logger.debug({ models: models.length, skipped, ms: clock.now() - started }, 'model catalog loaded');
    } catch (err) {
      if (closer.signal.aborted) return;
      lastFailureAt = clock.now();
      const message = redactSecrets(err instanceof Error ? err.message : String(err), secrets);
      opts.logger.warn(
        { url, error: message, cached: byId !== undefined },
        byId ? 'model catalog refresh failed; serving the cached list' : 'model catalog unavailable',
      );
    }
  }

  /** One fetch at a time; callers share it. */
  function load(): Promise<void> {
    inFlight ??= fetchOnce().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function recentlyFailed(): boolean {
    return lastFailureAt !== undefined && clock.now() - lastFailureAt < retryAfterFailureMs;
  }

  async function ensure(): Promise<void> {
    if (closer.signal.aborted) return;
    if (!byId) {
      if (inFlight) return inFlight;
      if (!recentlyFailed()) await load();
      return;
    }
    if (clock.now() - loadedAt >= ttlMs && !inFlight && !recentlyFailed()) void load();
  }

  return {
    async get(id) {
      await ensure();
      return byId?.get(id);
    },
    async search(text, options = {}) {
      await ensure();
      return rankModels(list, text, options);
    },
    async suggest(id, limit = 5) {
      await ensure();
      return suggestIds(
        list.map((m) => m.id),
        id,
        limit,
      );
    },
    async available() {
      await ensure();
      return byId !== undefined;
    },
    async ceiling(patterns) {
      await ensure();
      if (byId === undefined) return undefined;
      const key = patterns === undefined ? '' : patterns.join('\n');
      if (!ceilings.has(key)) {
        const chosen = patterns === undefined ? list : list.filter((m) => patterns.some((p) => matchesModelPattern(m.id, p)));
        ceilings.set(key, worstCasePricing(chosen));
      }
      return ceilings.get(key);
    },
    async refresh() {
      if (closer.signal.aborted) return;
      await (inFlight ?? load());
    },
    close() {
      closer.abort();
    },
  };
}
