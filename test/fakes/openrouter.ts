/**
 * A fake OpenRouter on 127.0.0.1 for driving the real openai SDK: streaming
 * chat completions (SSE), tool calls, usage, errors and GET /models. Tests
 * script the next answers with `enqueue`; without a script it echoes.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { contentProblem, contentText, fileAnnotations, imagesUnsupported } from './openrouter-content.ts';

export interface ModelEntry {
  id: string;
  name: string;
  created?: number;
  description?: string;
  context_length: number;
  /** USD per token, as strings (OpenRouter's format); "-1" means variable. */
  pricing: { prompt: string; completion: string; request?: string; image?: string };
  top_provider?: { context_length?: number; max_completion_tokens?: number | null; is_moderated?: boolean };
  supported_parameters: string[];
  architecture?: { input_modalities: string[]; output_modalities: string[]; tokenizer: string };
}

export interface OpenRouterErrorBody {
  code: number | string;
  message: string;
  metadata?: Record<string, unknown>;
}

export interface FakeToolCall {
  /** Defaults to call_<n>. */
  id?: string;
  name: string;
  /** The raw JSON text (may be deliberately invalid). */
  arguments: string;
  /** How many chunks the arguments are split into (default 3). */
  fragments?: number;
}

export interface FakeUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  reasoning_tokens?: number;
  /** `prompt_tokens_details.cached_tokens`; default 0 (or what the session cache holds, see `cacheSessions`). */
  cached_tokens?: number;
  /** USD; null leaves `cost` out of the usage object. Default: computed from the model's pricing. */
  cost?: number | null;
}

/** One scripted answer. Everything is optional; the defaults give a short streamed answer. */
export interface Scenario {
  /** Answer with this HTTP status and an OpenRouter error body instead of a completion. */
  status?: number;
  error?: Partial<OpenRouterErrorBody>;
  /** Extra response headers (e.g. Retry-After, retry-after-ms, x-should-retry). */
  headers?: Record<string, string>;
  /** Streamed content chunks (also joined for non-streaming answers). */
  text?: string[];
  /**
   * Reasoning before any content, as the recordings show it: each piece as
   * `delta.reasoning` plus a `reasoning.text` detail (index 0, `content: ""`),
   * a keep-alive comment between pieces, then a signature-only chunk.
   */
  reasoning?: string[];
  /** Encrypted reasoning before any content: `reasoning: null` and a `reasoning.encrypted` detail carrying this data. */
  encryptedReasoning?: string;
  /** Wait between reasoning chunks (the model thinking). */
  reasoningDelayMs?: number;
  /** The reasoning after the first chunk waits for this (a test step while the model thinks, e.g. advancing a fake clock). */
  reasoningWaitsFor?: Promise<unknown>;
  /** Non-streaming content; defaults to text joined. */
  content?: string;
  toolCalls?: FakeToolCall[];
  /** The `model` the answer claims; default: the model that answered (see `down`). */
  model?: string;
  /** Generation id; default gen-<n>. */
  id?: string;
  finishReason?: string | null;
  firstTokenDelayMs?: number;
  chunkDelayMs?: number;
  /** `: OPENROUTER PROCESSING` comment lines before the first chunk. */
  keepAlive?: number;
  /**
   * A model reasoning silently: `: OPENROUTER PROCESSING` every `everyMs` for
   * `forMs` before the first chunk, as OpenRouter sends it for minutes.
   */
  keepAliveFor?: { forMs: number; everyMs: number };
  /**
   * A recorded `text/event-stream` body (e.g. from test/fixtures/openrouter-*.sse),
   * sent byte for byte with status 200 instead of a generated answer.
   */
  sse?: string;
  /** false: no usage chunk at all. */
  usage?: false | FakeUsage;
  /** After the text: a chunk with a top-level `error` and finish_reason "error" (HTTP stays 200). */
  midStreamError?: OpenRouterErrorBody;
  /** `choices[0].error` (streaming: on the last chunk; non-streaming: in the response). */
  choiceError?: OpenRouterErrorBody;
  /** End the stream without `data: [DONE]`. */
  omitDone?: boolean;
  /** A line of broken JSON after the text. */
  malformedAfterText?: boolean;
  /** Destroy the socket after the text. */
  resetAfterText?: boolean;
  /** Never answer (before headers) or stop after the text, until the client goes away or the fake closes. */
  hang?: 'before-headers' | 'after-text';
  /** The text after the first chunk waits for this: a test step that must happen mid-answer, whatever the machine's speed. */
  restWaitsFor?: Promise<unknown>;
  /**
   * url_citation annotations sent (streaming: in a delta after the text; else on
   * the message) when the request has web search (the server tool or `:online`).
   * Default then: FAKE_CITATIONS.
   */
  citations?: FakeCitation[];
  /** `usage.server_tool_use_details.web_search_requests` with web search (default 1). */
  webSearchRequests?: number;
  /**
   * Pictures in `delta.images` (as OpenRouter streams them: every one in one
   * chunk, the one that finishes the answer, however many megabytes) or in
   * `message.images`; each is a URL, normally `data:image/png;base64,…`.
   */
  images?: string[];
  /** Completion tokens each picture adds to the usage (default 1290, what Gemini counts per image). */
  imageTokens?: number;
}

export interface FakeCitation {
  url: string;
  title: string;
  content?: string;
  start_index?: number;
  end_index?: number;
}

/** What a web-searching answer cites by default. */
export const FAKE_CITATIONS: FakeCitation[] = [
  { url: 'https://example.com/first', title: 'First source', content: 'snippet one', start_index: 0, end_index: 5 },
  { url: 'https://example.org/second', title: 'Second source', content: 'snippet two', start_index: 6, end_index: 10 },
  { url: 'https://example.com/first', title: 'First source', content: 'snippet one again', start_index: 11, end_index: 15 },
];

/** The request asks for web search: OpenRouter's server tool in `tools`, or the deprecated `:online` suffix. */
export function hasWebSearch(body: ChatBody): boolean {
  return (body.tools ?? []).some((t) => t.type === 'openrouter:web_search') || body.model.endsWith(':online');
}

export interface ChatBody {
  model: string;
  models?: string[];
  messages: {
    role: string;
    /** A string; user messages may carry content parts instead (see openrouter-content.ts). */
    content?: string | null;
    name?: string;
    tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[];
    tool_call_id?: string;
  }[];
  stream?: boolean;
  tools?: { type: string; function?: { name: string; description?: string; parameters?: unknown }; parameters?: Record<string, unknown> }[];
  tool_choice?: unknown;
  provider?: Record<string, unknown>;
  user?: string;
  response_format?: { type: string; json_schema?: { name: string; strict?: boolean; schema: unknown } };
  max_tokens?: number;
  plugins?: Array<{ id: string; allowed_models?: string[]; [key: string]: unknown }>;
  [key: string]: unknown;
}

export type ScenarioInput = Scenario | ((body: ChatBody) => Scenario);

export interface RecordedRequest {
  method: string;
  /** Path below /api/v1, e.g. /chat/completions. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (undefined for GET). */
  body: ChatBody | undefined;
  /** The client went away before the answer was complete. */
  aborted: boolean;
  /** Resolves when the answer finished or the connection closed. */
  finished: Promise<void>;
}

export interface FakeOpenRouter {
  /** Base URL including /api/v1. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Served at GET /models; mutable. */
  models: ModelEntry[];
  /** Models that are down: with `models` fallbacks the next one answers, else 502. */
  readonly down: Set<string>;
  /** Make GET /models fail with this status (undefined: serve the list). */
  modelsStatus: number | undefined;
  modelsDelayMs: number;
  /** What `openrouter/auto` answers as without the auto-router plugin (with it: each allowed model in turn). */
  autoModel: string;
  /**
   * A provider's prompt cache keyed by `session_id`: a request with a session
   * seen before reads the earlier request's prompt tokens from the cache
   * (`cached_tokens`), priced at `cachedPriceShare` of the prompt price.
   */
  cacheSessions: boolean;
  /** Share of the prompt price a cached token costs (default 0.1, as Anthropic and Gemini charge). */
  cachedPriceShare: number;
  /** Time to first token grows by this much per 1,000 prompt tokens not read from the cache (prefill; default 0). */
  prefillMsPerKToken: number;
  /** Served at GET /key (the `data` object); mutable. */
  key: Record<string, unknown>;
  /** Served at GET /generation?id= (the `data` objects); every answer adds one; unknown ids get 404. */
  readonly generations: Map<string, Record<string, unknown>>;
  /**
   * Models whose every provider keeps or trains on data: a request with
   * `provider.zdr: true` or `provider.data_collection: "deny"` for one gets 404
   * "No endpoints found…", as OpenRouter answers.
   */
  readonly retainsData: Set<string>;
  enqueue(...scenarios: ScenarioInput[]): void;
  setDefault(fn: (body: ChatBody) => Scenario): void;
  /** Recorded POST /chat/completions requests. */
  chatRequests(): RecordedRequest[];
  /** PDFs parsed so far (a PDF whose annotation the request sends back is not parsed again). */
  readonly parsedFiles: number;
  /** Clears scripts, records, down models and restores the default models. */
  reset(): void;
  close(): Promise<void>;
}

export interface FakeOpenRouterOptions {
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  models?: ModelEntry[];
  /** Keep every request in `requests` (default true); benchmarks may turn it off to save memory. */
  recordRequests?: boolean;
}

export function modelEntry(id: string, overrides: Partial<ModelEntry> = {}): ModelEntry {
  return {
    id,
    name: id,
    created: 1_700_000_000,
    description: `${id} (fake)`,
    context_length: 128_000,
    pricing: { prompt: '0.000001', completion: '0.000002', request: '0', image: '0' },
    top_provider: { context_length: 128_000, max_completion_tokens: 16_384, is_moderated: false },
    supported_parameters: ['max_tokens', 'temperature', 'tools', 'tool_choice', 'response_format', 'structured_outputs'],
    architecture: { input_modalities: ['text'], output_modalities: ['text'], tokenizer: 'Other' },
    ...overrides,
  };
}

export function defaultModels(): ModelEntry[] {
  return [
    modelEntry('openai/gpt-4o-mini', {
      name: 'OpenAI: GPT-4o-mini',
      description: 'Small, fast and cheap multimodal model from OpenAI.',
      pricing: { prompt: '0.00000015', completion: '0.0000006', request: '0', image: '0' },
    }),
    modelEntry('anthropic/claude-3.5-sonnet', {
      name: 'Anthropic: Claude 3.5 Sonnet',
      description: 'Anthropic model with strong coding and writing.',
      context_length: 200_000,
      pricing: { prompt: '0.000003', completion: '0.000015', request: '0', image: '0' },
    }),
    modelEntry('meta-llama/llama-3.1-8b-instruct:free', {
      name: 'Meta: Llama 3.1 8B Instruct (free)',
      description: 'Open weights instruction-tuned model from Meta.',
      context_length: 131_072,
      pricing: { prompt: '0', completion: '0', request: '0', image: '0' },
      supported_parameters: ['max_tokens', 'temperature'],
    }),
    modelEntry(IMAGE_MODEL, {
      name: 'Google: Gemini 2.5 Flash Image',
      description: 'Generates and edits images from text and images.',
      context_length: 32_768,
      pricing: { prompt: '0.0000003', completion: '0.0000025', request: '0', image: '0.001238' },
      top_provider: { context_length: 32_768, max_completion_tokens: 8_192, is_moderated: false },
      supported_parameters: ['max_tokens', 'temperature', 'response_format', 'structured_outputs'],
      architecture: { input_modalities: ['image', 'text'], output_modalities: ['image', 'text'], tokenizer: 'Gemini' },
    }),
    modelEntry('openrouter/auto', {
      name: 'Auto Router',
      description: 'Picks a model for each prompt.',
      context_length: 2_000_000,
      pricing: { prompt: '-1', completion: '-1' },
    }),
  ];
}

/** The fake catalog's image-output model (output_modalities image and text). */
export const IMAGE_MODEL = 'google/gemini-2.5-flash-image';

const CREATED = 1_700_000_000;
/** OpenRouter answers 400 to a longer `models` array. */
const MAX_MODELS = 3;

function lastUserText(body: ChatBody): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i];
    if (m?.role === 'user') return contentText(m.content);
  }
  return '';
}

/** "You said: <text>" in a few chunks. */
export function echoScenario(body: ChatBody): Scenario {
  const words = `You said: ${lastUserText(body)}`.split(/(?<= )/);
  const size = Math.max(1, Math.ceil(words.length / 3));
  const text: string[] = [];
  for (let i = 0; i < words.length; i += size) text.push(words.slice(i, i + size).join(''));
  return { text };
}

const tokensOf = (chars: number) => Math.max(1, Math.ceil(chars / 4));

export async function startFakeOpenRouter(options: FakeOpenRouterOptions = {}): Promise<FakeOpenRouter> {
  const queue: ScenarioInput[] = [];
  let defaultFn: (body: ChatBody) => Scenario = echoScenario;
  let generation = 0;
  let autoTurn = 0;
  const requests: RecordedRequest[] = [];
  /** session_id -> prompt tokens of its last request (what the cache holds). */
  const sessions = new Map<string, number>();

  const fake: FakeOpenRouter = {
    url: '',
    requests,
    models: options.models ?? defaultModels(),
    down: new Set<string>(),
    retainsData: new Set<string>(),
    modelsStatus: undefined,
    modelsDelayMs: 0,
    autoModel: 'openai/gpt-4o-mini',
    cacheSessions: false,
    cachedPriceShare: 0.1,
    prefillMsPerKToken: 0,
    key: defaultKey(),
    generations: new Map(),
    enqueue(...scenarios) {
      queue.push(...scenarios);
    },
    setDefault(fn) {
      defaultFn = fn;
    },
    parsedFiles: 0,
    chatRequests() {
      return requests.filter((r) => r.path === '/chat/completions');
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
      defaultFn = echoScenario;
      fake.models = options.models ?? defaultModels();
      fake.down.clear();
      fake.retainsData.clear();
      fake.modelsStatus = undefined;
      fake.modelsDelayMs = 0;
      fake.cacheSessions = false;
      fake.prefillMsPerKToken = 0;
      fake.key = defaultKey();
      fake.generations.clear();
      (fake as { parsedFiles: number }).parsedFiles = 0;
      sessions.clear();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: ChatBody | undefined;
      try {
        body = raw ? (JSON.parse(raw) as ChatBody) : undefined;
      } catch {
        body = undefined;
      }
      let markFinished = () => {};
      const record: RecordedRequest = {
        method: req.method ?? 'GET',
        path: new URL(req.url ?? '/', 'http://fake').pathname.replace(/^\/api\/v1/, ''),
        query: new URL(req.url ?? '/', 'http://fake').searchParams,
        headers: req.headers,
        body,
        aborted: false,
        finished: new Promise<void>((resolve) => (markFinished = resolve)),
      };
      if (options.recordRequests !== false) requests.push(record);
      const state = { closed: false, reset: false };
      res.on('close', () => {
        state.closed = true;
        if (!res.writableFinished && !state.reset) record.aborted = true;
        markFinished();
      });
      void route(record, res, state).catch(() => {
        if (!res.headersSent && !state.closed) sendError(res, 500, { message: 'fake failed' });
        else res.destroy();
      });
    });
  });

  async function route(record: RecordedRequest, res: ServerResponse, state: StreamState): Promise<void> {
    if (options.apiKey && record.headers.authorization !== `Bearer ${options.apiKey}`) {
      sendError(res, 401, { message: 'No auth credentials found' });
      return;
    }
    if (record.method === 'GET' && record.path === '/models') {
      if (fake.modelsDelayMs > 0) await sleep(fake.modelsDelayMs);
      if (fake.modelsStatus !== undefined) sendError(res, fake.modelsStatus, { message: 'models unavailable' });
      else sendJson(res, 200, { data: fake.models });
      return;
    }
    if (record.method === 'GET' && record.path === '/key') {
      sendJson(res, 200, { data: fake.key });
      return;
    }
    if (record.method === 'GET' && record.path === '/generation') {
      const found = fake.generations.get(record.query.get('id') ?? '');
      if (found) sendJson(res, 200, { data: found });
      else sendError(res, 404, { message: 'Generation not found' });
      return;
    }
    if (record.method === 'POST' && record.path === '/chat/completions' && record.body) {
      await answerChat(record.body, res, state);
      return;
    }
    sendError(res, 404, { message: `no route for ${record.method} ${record.path}` });
  }

  async function answerChat(body: ChatBody, res: ServerResponse, state: StreamState): Promise<void> {
    if (body.models && body.models.length > MAX_MODELS) {
      // What the real one answers (seen in the field; not in its docs).
      sendError(res, 400, { message: `'models' array must have ${MAX_MODELS} items or fewer.` });
      return;
    }
    const badContent = contentProblem(body);
    if (badContent !== undefined) {
      sendError(res, 400, { message: badContent });
      return;
    }
    if (imagesUnsupported(body, fake.models)) {
      sendError(res, 404, { message: 'No endpoints found that support image input' });
      return;
    }
    if (refusesForPrivacy(body, fake.retainsData)) {
      sendError(res, 404, { message: 'No endpoints found matching your data policy (Zero data retention / data collection). Configure: https://openrouter.ai/settings/privacy' });
      return;
    }
    const wantsImages = Array.isArray(body.modalities) && (body.modalities as unknown[]).includes('image');
    const entry = fake.models.find((m) => m.id === body.model);
    if (wantsImages && entry && !(entry.architecture?.output_modalities ?? []).includes('image')) {
      sendError(res, 404, { message: 'No endpoints found that support the requested output modalities: image, text' });
      return;
    }
    const next = queue.shift();
    const scenario = next === undefined ? defaultFn(body) : typeof next === 'function' ? next(body) : next;

    if (scenario.hang === 'before-headers') return; // the socket stays open until the client leaves
    if (scenario.status !== undefined && scenario.status !== 200) {
      sendError(res, scenario.status, scenario.error ?? {}, scenario.headers);
      return;
    }
    const candidates = body.models && body.models.length > 0 ? body.models : [body.model];
    const answering = candidates.find((m) => !fake.down.has(m));
    if (!answering) {
      sendError(res, 502, { message: 'Provider returned error', metadata: { provider_name: 'Fake', raw: `${body.model} is down` } });
      return;
    }
    if (scenario.sse !== undefined && body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...scenario.headers });
      res.end(scenario.sse);
      return;
    }
    let model = scenario.model ?? answering;
    if (scenario.model === undefined && answering === 'openrouter/auto') {
      const allowed = autoRouterAllowed(body);
      if (allowed === undefined) model = fake.autoModel;
      else {
        // What OpenRouter does with the auto-router plugin: route only to an allowed model (here, each in turn).
        const choices = fake.models.filter((m) => Number(m.pricing.prompt) >= 0 && allowed.some((p) => matchesPattern(m.id, p)));
        if (choices.length === 0) {
          sendError(res, 400, { message: 'No allowed model for the auto router' });
          return;
        }
        model = choices[autoTurn++ % choices.length]!.id;
      }
    }
    const id = scenario.id ?? `gen-${++generation}`;
    const started = Date.now();
    const usage = buildUsage(body, scenario, model);
    const prefillMs = usage ? Math.round(((Number(usage.prompt_tokens) - cachedOf(usage)) / 1000) * fake.prefillMsPerKToken) : 0;
    const timed = prefillMs > 0 ? { ...scenario, firstTokenDelayMs: (scenario.firstTokenDelayMs ?? 0) + prefillMs } : scenario;
    const files = fileAnnotations(body);
    (fake as { parsedFiles: number }).parsedFiles += files.length;
    const citations: unknown[] = [...(hasWebSearch(body) ? (scenario.citations ?? FAKE_CITATIONS) : []).map(toAnnotation), ...files];
    if (usage && hasWebSearch(body)) usage.server_tool_use_details = { web_search_requests: scenario.webSearchRequests ?? 1 };
    if (body.stream) await streamAnswer(res, state, timed, id, model, usage, citations);
    else answerJson(res, timed, id, model, usage, citations);
    recordGeneration(id, model, usage, Date.now() - started);
  }

  function recordGeneration(id: string, model: string, usage: Record<string, unknown> | undefined, latency: number): void {
    fake.generations.set(id, {
      id,
      model,
      provider_name: 'Fake',
      native_tokens_prompt: usage ? usage.prompt_tokens : null,
      native_tokens_completion: usage ? usage.completion_tokens : null,
      native_tokens_reasoning: usage ? (usage.completion_tokens_details as { reasoning_tokens: number }).reasoning_tokens : null,
      native_tokens_cached: usage ? cachedOf(usage) : null,
      total_cost: usage?.cost ?? 0,
      latency,
    });
  }

  /** What the session's cache holds for this request (then remembers this prompt). */
  function sessionCached(body: ChatBody, prompt: number): number {
    const session = typeof body.session_id === 'string' ? body.session_id : undefined;
    if (!fake.cacheSessions || session === undefined) return 0;
    const held = sessions.get(session) ?? 0;
    sessions.set(session, prompt);
    return Math.min(held, prompt);
  }

  function buildUsage(body: ChatBody, scenario: Scenario, model: string): Record<string, unknown> | undefined {
    if (scenario.usage === false) return undefined;
    const given = scenario.usage ?? {};
    const promptChars = body.messages.reduce((n, m) => n + contentText(m.content).length, 0);
    const outChars =
      (scenario.content ?? (scenario.text ?? []).join('')).length + (scenario.toolCalls ?? []).reduce((n, c) => n + c.arguments.length, 0);
    const prompt = given.prompt_tokens ?? tokensOf(promptChars);
    const completion = given.completion_tokens ?? tokensOf(outChars) + (scenario.images?.length ?? 0) * (scenario.imageTokens ?? 1290);
    const cached = given.cached_tokens ?? sessionCached(body, prompt);
    const usage: Record<string, unknown> = {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached },
      completion_tokens_details: { reasoning_tokens: given.reasoning_tokens ?? 0 },
    };
    if (given.cost !== null) usage.cost = given.cost ?? priceOf(model, prompt, completion, cached);
    return usage;
  }

  /** Cached prompt tokens cost `cachedPriceShare` of the prompt price. */
  function priceOf(model: string, prompt: number, completion: number, cached: number): number {
    const entry = fake.models.find((m) => m.id === model);
    if (!entry) return 0;
    const p = Number(entry.pricing.prompt);
    const c = Number(entry.pricing.completion);
    if (!(p >= 0 && c >= 0)) return 0;
    const promptCost = (prompt - cached) * p + cached * p * fake.cachedPriceShare;
    return Math.round((promptCost + completion * c) * 1e12) / 1e12;
  }

  async function streamAnswer(
    res: ServerResponse,
    state: StreamState,
    s: Scenario,
    id: string,
    model: string,
    usage: Record<string, unknown> | undefined,
    annotations: readonly unknown[],
  ): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...s.headers });
    res.flushHeaders();
    const write = (line: string) => {
      if (!state.closed) res.write(line);
    };
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      write(`data: ${JSON.stringify({ id, provider: 'Fake', model, object: 'chat.completion.chunk', created: CREATED, choices, ...extra })}\n\n`);
    const pause = async (ms: number | undefined) => {
      if (ms && ms > 0 && !state.closed) await sleep(ms);
    };

    for (let i = 0; i < (s.keepAlive ?? 0); i++) write(': OPENROUTER PROCESSING\n\n');
    if (s.keepAliveFor) {
      const until = Date.now() + s.keepAliveFor.forMs;
      while (Date.now() < until && !state.closed) {
        write(': OPENROUTER PROCESSING\n\n');
        await pause(s.keepAliveFor.everyMs);
      }
    }
    // Only when scripted: an extra await here shifts the timing every other scenario was written against.
    if (s.reasoning !== undefined || s.encryptedReasoning !== undefined) await streamReasoning(s, chunk, write, pause, state);
    await pause(s.firstTokenDelayMs);
    let first = true;
    for (const text of s.text ?? []) {
      if (!first) await pause(s.chunkDelayMs);
      if (state.closed) return;
      chunk([{ index: 0, delta: first ? { role: 'assistant', content: text } : { content: text }, finish_reason: null }]);
      if (first && s.restWaitsFor) await s.restWaitsFor;
      first = false;
    }
    if (annotations.length > 0 && !state.closed) {
      chunk([{ index: 0, delta: { annotations }, finish_reason: null }]);
      first = false;
    }
    for (const fragment of toolCallFragments(s.toolCalls ?? [])) {
      if (!first) await pause(s.chunkDelayMs);
      if (state.closed) return;
      chunk([{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [fragment] }, finish_reason: null }]);
      first = false;
    }
    if (s.hang === 'after-text') return;
    if (s.malformedAfterText) write('data: {"id": "broken", "choices": [\n\n');
    if (s.resetAfterText) {
      state.reset = true;
      // Let the text reach the client first; destroy() drops unflushed writes.
      await sleep(10);
      res.socket?.destroy();
      return;
    }
    if (s.midStreamError) {
      chunk([{ index: 0, delta: { content: '' }, finish_reason: 'error' }], { error: s.midStreamError });
    } else {
      const finishReason = s.finishReason !== undefined ? s.finishReason : s.toolCalls?.length ? 'tool_calls' : 'stop';
      const delta = s.images?.length ? { images: s.images.map(toImagePart) } : {};
      const choice: Record<string, unknown> = { index: 0, delta, finish_reason: s.choiceError ? 'error' : finishReason };
      if (s.choiceError) choice.error = s.choiceError;
      chunk([choice]);
      if (usage) chunk([], { usage });
    }
    if (!s.omitDone) write('data: [DONE]\n\n');
    if (!state.closed) res.end();
  }

  /** Reasoning chunks before the content (see Scenario.reasoning, Scenario.encryptedReasoning). */
  async function streamReasoning(
    s: Scenario,
    chunk: (choices: unknown[]) => void,
    write: (line: string) => void,
    pause: (ms: number | undefined) => Promise<void>,
    state: StreamState,
  ): Promise<void> {
    const delta = (reasoning: string | null, detail: Record<string, unknown>) => [
      { index: 0, delta: { role: 'assistant', content: '', reasoning, reasoning_details: [{ format: 'anthropic-claude-v1', index: 0, ...detail }] }, finish_reason: null },
    ];
    const pieces = s.reasoning ?? [];
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) {
        write(': OPENROUTER PROCESSING\n\n');
        await pause(s.reasoningDelayMs);
      }
      if (state.closed) return;
      chunk(delta(piece, { type: 'reasoning.text', text: piece }));
      if (i === 0 && s.reasoningWaitsFor) await s.reasoningWaitsFor;
    }
    if (pieces.length > 0) chunk(delta(null, { type: 'reasoning.text', signature: 'sig-fake-0123456789' }));
    if (s.encryptedReasoning !== undefined) {
      await pause(s.reasoningDelayMs);
      write(': OPENROUTER PROCESSING\n\n');
      chunk(delta(null, { type: 'reasoning.encrypted', data: s.encryptedReasoning, format: 'openai-responses-v1' }));
    }
  }

  function answerJson(
    res: ServerResponse,
    s: Scenario,
    id: string,
    model: string,
    usage: Record<string, unknown> | undefined,
    annotations: readonly unknown[],
  ): void {
    const calls = (s.toolCalls ?? []).map((c, i) => ({
      id: c.id ?? `call_${i}`,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
    const finishReason = s.finishReason !== undefined ? s.finishReason : calls.length ? 'tool_calls' : 'stop';
    const choice: Record<string, unknown> = {
      index: 0,
      finish_reason: s.choiceError ? 'error' : finishReason,
      message: {
        role: 'assistant',
        content: s.content ?? (s.text ?? []).join(''),
        ...(calls.length ? { tool_calls: calls } : {}),
        ...(annotations.length ? { annotations } : {}),
        ...(s.images?.length ? { images: s.images.map(toImagePart) } : {}),
      },
    };
    if (s.choiceError) choice.error = s.choiceError;
    sendJson(res, 200, {
      id,
      provider: 'Fake',
      model,
      object: 'chat.completion',
      created: CREATED,
      choices: [choice],
      ...(usage ? { usage } : {}),
    }, s.headers);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  (fake as { url: string }).url = `http://127.0.0.1:${port}/api/v1`;
  return fake;
}

function cachedOf(usage: Record<string, unknown>): number {
  return (usage.prompt_tokens_details as { cached_tokens: number } | undefined)?.cached_tokens ?? 0;
}

/** GET /key's `data`, as OpenRouter documents it: no limit, nothing spent. */
export function defaultKey(): Record<string, unknown> {
  return {
    label: 'fake',
    limit: null,
    limit_remaining: null,
    limit_reset: null,
    usage: 0,
    usage_daily: 0,
    usage_weekly: 0,
    usage_monthly: 0,
    is_free_tier: false,
  };
}

function toImagePart(url: string): unknown {
  return { type: 'image_url', image_url: { url } };
}

/** A data URL of a real PNG of about `bytes` bytes (a valid header, then filler chunks), for image answers. */
export function fakePngDataUrl(bytes = 1000, seed = 1): string {
  return `data:image/png;base64,${fakePng(bytes, seed).toString('base64')}`;
}

/** PNG signature + IHDR, then one private chunk of filler up to `bytes`, then IEND (each chunk's CRC left zero). */
export function fakePng(bytes = 1000, seed = 1): Buffer {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(64, 0);
  ihdr.writeUInt32BE(64, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const fixed = signature.length + 25 + 12 + 12;
  const filler = Buffer.alloc(Math.max(0, bytes - fixed));
  for (let i = 0; i < filler.length; i++) filler[i] = (i * 31 + seed * 7) & 0xff;
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('fiLl', filler), chunk('IEND', Buffer.alloc(0))]);
}

function toAnnotation(citation: FakeCitation): unknown {
  return { type: 'url_citation', url_citation: citation };
}

/** OpenRouter's privacy routing: zdr or data_collection "deny" leaves no endpoint for a model that retains data. */
function refusesForPrivacy(body: ChatBody, retainsData: ReadonlySet<string>): boolean {
  const provider = body.provider ?? {};
  if (provider.zdr !== true && provider.data_collection !== 'deny') return false;
  return retainsData.has(body.model);
}

/** The auto-router plugin's allowed_models, when the request carries it. */
function autoRouterAllowed(body: ChatBody): string[] | undefined {
  const plugin = body.plugins?.find((p) => p.id === 'auto-router');
  return plugin?.allowed_models && plugin.allowed_models.length > 0 ? plugin.allowed_models : undefined;
}

/** An id, or a pattern with `*` such as `anthropic/*`. */
function matchesPattern(id: string, pattern: string): boolean {
  if (!pattern.includes('*')) return id === pattern;
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(id);
}

interface StreamState {
  closed: boolean;
  reset: boolean;
}

/** Tool-call fragments as a provider streams them: a header per call, then argument pieces, calls interleaved by index. */
function toolCallFragments(calls: readonly FakeToolCall[]): unknown[] {
  const pieces = calls.map((c) => {
    const n = Math.max(1, c.fragments ?? 3);
    const size = Math.max(1, Math.ceil(c.arguments.length / n));
    const parts: string[] = [];
    for (let i = 0; i < c.arguments.length; i += size) parts.push(c.arguments.slice(i, i + size));
    return parts;
  });
  const out: unknown[] = calls.map((c, index) => ({
    index,
    id: c.id ?? `call_${index}`,
    type: 'function',
    function: { name: c.name, arguments: '' },
  }));
  const longest = Math.max(0, ...pieces.map((p) => p.length));
  for (let i = 0; i < longest; i++) {
    pieces.forEach((parts, index) => {
      const part = parts[i];
      if (part !== undefined) out.push({ index, function: { arguments: part } });
    });
  }
  return out;
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const STATUS_MESSAGES: Record<number, string> = {
  400: 'Invalid request',
  401: 'No auth credentials found',
  402: 'Insufficient credits',
  403: 'Your chosen model requires moderation and your input was flagged',
  404: 'No endpoints found for this model',
  408: 'Request timed out',
  429: 'Rate limit exceeded',
  502: 'Provider returned error',
  503: 'No available provider meets your routing requirements',
};

function sendError(res: ServerResponse, status: number, error: Partial<OpenRouterErrorBody>, headers: Record<string, string> = {}): void {
  const body = {
    error: {
      code: error.code ?? status,
      message: error.message ?? STATUS_MESSAGES[status] ?? 'error',
      ...(error.metadata ? { metadata: error.metadata } : {}),
    },
  };
  sendJson(res, status, body, headers);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
