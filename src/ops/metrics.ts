/**
 * Prometheus metrics, fed only by CoreEvents so nothing here sits in the
 * request path. Our own Registry (not prom-client's global one), so tests and
 * several apps in one process never share counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoreEventMap, CoreEvents } from '../core/events.ts';
import type { ModelCatalog } from '../llm/types.ts';

export interface Metrics {
  readonly registry: Registry;
  /** The text /metrics serves. */
  render(): Promise<string>;
  readonly contentType: string;
  /** Resolves once every answer finished so far is counted (the model label needs a catalog look-up). */
  settled(): Promise<void>;
  /** Stops listening to the core. */
  close(): void;
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag) too; npm start turns them on. */
  processMetrics?: boolean;
  /**
   * Only ids in the catalog become `model` label values, so users cannot grow
   * the series count by typing ids; without a catalog every model is `other`.
   */
  catalog?: Pick<ModelCatalog, 'get'>;
}

/** The `model` label of anything that is not a catalog id. */
export const OTHER_MODEL = 'other';

type Finished = CoreEventMap['answer-finished'];

/** The model that answered, else the one requested, when the catalog lists it; else `other`. */
async function modelLabel(e: Finished, catalog: Pick<ModelCatalog, 'get'> | undefined): Promise<string> {
  if (!catalog) return OTHER_MODEL;
  for (const id of [e.modelAnswered, e.modelRequested]) {
    if (id && (await catalog.get(id))?.id === id) return id;
  }
  return OTHER_MODEL;
}

/** Seconds; answers stream for a few seconds up to minutes. */
const FIRST_TOKEN_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];
const TOTAL_BUCKETS = [0.5, 1, 2, 5, 10, 20, 40, 60, 120, 300];

export function createMetrics(events: CoreEvents, options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  const registers = [registry];

  const requests = new Counter({
    name: 'switchboard_requests_total',
    help: 'Answers finished, by platform, outcome (ok, error, cancelled, interrupted) and model (the one that answered, else the one requested, if the catalog lists it; else other)',
    labelNames: ['platform', 'outcome', 'model'] as const,
    registers,
  });
  const tokens = new Counter({
    name: 'switchboard_tokens_total',
    help: 'Tokens used by finished answers, by platform, model and direction (in = prompt, out = completion, reasoning = the part of out spent thinking)',
    labelNames: ['platform', 'model', 'direction'] as const,
    registers,
  });
  const cost = new Counter({
    name: 'switchboard_cost_usd_total',
    help: 'Cost of finished answers in USD, by platform and model',
    labelNames: ['platform', 'model'] as const,
    registers,
  });
  const firstToken = new Histogram({
    name: 'switchboard_first_token_seconds',
    help: 'Time from the OpenRouter request to the first token, by platform',
    labelNames: ['platform'] as const,
    buckets: FIRST_TOKEN_BUCKETS,
    registers,
  });
  const total = new Histogram({
    name: 'switchboard_answer_seconds',
    help: 'Time from the start of streaming to the settled answer, by platform and outcome',
    labelNames: ['platform', 'outcome'] as const,
    buckets: TOTAL_BUCKETS,
    registers,
  });
  const streaming = new Gauge({
    name: 'switchboard_streams_in_progress',
    help: 'Answers streaming right now, by platform',
    labelNames: ['platform'] as const,
    registers,
  });
  const refusals = new Counter({
    name: 'switchboard_quota_refusals_total',
    help: 'Requests refused by a quota, by platform',
    labelNames: ['platform'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'switchboard_platform_rate_limited_total',
    help: 'HTTP 429 answers from a chat platform (Discord, Slack), by platform',
    labelNames: ['platform'] as const,
    registers,
  });
  const llmErrors = new Counter({
    name: 'switchboard_openrouter_errors_total',
    help: 'Answers that failed on the OpenRouter side, by error class (LlmError kind: rate_limited, out_of_credits, timeout, ...)',
    labelNames: ['kind'] as const,
    registers,
  });

  const counting = new Set<Promise<void>>();
  const countByModel = (e: Finished, model: string) => {
    requests.inc({ platform: e.platform, outcome: e.outcome, model });
    if (e.tokensIn > 0) tokens.inc({ platform: e.platform, model, direction: 'in' }, e.tokensIn);
    if (e.tokensOut > 0) tokens.inc({ platform: e.platform, model, direction: 'out' }, e.tokensOut);
    if ((e.tokensReasoning ?? 0) > 0) tokens.inc({ platform: e.platform, model, direction: 'reasoning' }, e.tokensReasoning);
    if (e.costUsd > 0) cost.inc({ platform: e.platform, model }, e.costUsd);
  };

  const unsubscribe = [
    events.on('answer-started', (e) => {
      streaming.inc({ platform: e.platform });
    }),
    events.on('answer-finished', (e) => {
      streaming.dec({ platform: e.platform });
      if (e.ttftMs !== undefined) firstToken.observe({ platform: e.platform }, e.ttftMs / 1000);
      total.observe({ platform: e.platform, outcome: e.outcome }, e.totalMs / 1000);
      if (e.outcome === 'error' && e.errorKind !== null) llmErrors.inc({ kind: e.errorKind });
      const counted = modelLabel(e, options.catalog)
        .catch(() => OTHER_MODEL)
        .then((model) => countByModel(e, model))
        .finally(() => counting.delete(counted));
      counting.add(counted);
    }),
    events.on('quota-refused', (e) => {
      refusals.inc({ platform: e.platform });
    }),
    events.on('platform-rate-limited', (e) => {
      rateLimited.inc({ platform: e.platform });
    }),
  ];

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    async settled() {
      await Promise.all([...counting]);
    },
    close() {
      for (const off of unsubscribe) off();
    },
  };
}
