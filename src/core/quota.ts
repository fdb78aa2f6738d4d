/**
 * Quota policy: which limits apply to whom, what a request may cost at worst,
 * and how a refusal reads. The store does the atomic part.
 */
import type { Config } from '../config.ts';
import { computeCostUsd, isVariablePrice, type WorstCasePrice } from '../llm/pricing.ts';
import type { ModelInfo, ModelPricing, RoundDecision, RoundPlan } from '../llm/types.ts';
import type {
  EffectiveLimits,
  LedgerEntry,
  LimitName,
  QuotaLimitName,
  QuotaLimitSet,
  QuotaLimitValues,
  QuotaRefusal,
  TopUpResult,
  Store,
  UserKey,
} from '../store/types.ts';
import { QUOTA_LIMITS } from '../store/types.ts';
import type { SettleSpool } from './settle-spool.ts';
import { UserFacingError } from './errors.ts';
import { DM_WORKSPACE } from './settings.ts';

export type LimitSource = 'user' | 'role' | 'server default' | 'environment default';

export interface LimitView {
  limit: QuotaLimitName;
  value: number | null;
  source: LimitSource;
  /** For source 'role': the role (user group) whose tier gave the value. */
  roleId?: string;
}

const LIMIT_TO_FIELD: Record<QuotaLimitName, keyof EffectiveLimits> = {
  'requests-per-day': 'requestsPerDay',
  'tokens-per-day': 'tokensPerDay',
  'usd-per-day': 'usdPerDay',
  'usd-per-month': 'usdPerMonth',
};

export interface ReservationRequest {
  requestId: string;
  user: UserKey;
  channelId: string;
  model: string;
  /** The fallbacks sent with it (each may answer, so each is priced). */
  fallbacks?: readonly string[];
  /** The model's catalog entry; prices the request when `priceOf` is not given. */
  modelInfo?: ModelInfo | undefined;
  /** The worst case over the models that may answer (the pipeline asks the catalog: worstCasePrice). */
  priceOf?: (models: readonly string[]) => Promise<WorstCasePrice>;
  /** Upper bound on the first round's prompt tokens (messages and tool definitions). */
  promptTokens: number;
  maxTokens: number;
  /** The asker's roles (user groups): their tiers apply where the user has no limit of their own. */
  roleIds?: readonly string[];
}

export class QuotaService {
  constructor(
    private readonly store: Store,
    private readonly defaults: Config['quota'],
    private readonly owner: string,
    private readonly now: () => Date = () => new Date(),
    /** Told before each retry of a failed settle (logging). */
    private readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void,
  ) {}

  envDefault(limit: QuotaLimitName): number | null {
    return this.defaults[LIMIT_TO_FIELD[limit] as 'requestsPerDay'];
  }

  /** The limits that apply to one user with these roles, each with where it came from. */
  async limitsFor(user: UserKey, roleIds: readonly string[] = []): Promise<LimitView[]> {
    return this.#views(await this.store.getQuotaLimitSet(user.platform, user.workspaceId, user.userId, roleIds.length > 0 ? roleIds : undefined));
  }

  async serverBudget(platform: string, workspaceId: string): Promise<{ value: number | null; source: LimitSource }> {
    return this.#serverBudget(await this.store.getQuotaLimits(platform, workspaceId, { kind: 'server' }), workspaceId);
  }

  /** One read for the user's limits, their roles' tiers and the server budget. */
  async effectiveLimits(user: UserKey, roleIds: readonly string[] = []): Promise<EffectiveLimits> {
    return this.#effective(user, await this.store.getQuotaLimitSet(user.platform, user.workspaceId, user.userId, roleIds.length > 0 ? roleIds : undefined));
  }

  #effective(user: UserKey, set: QuotaLimitSet): EffectiveLimits {
    const limits: EffectiveLimits = {
      maxConcurrent: this.defaults.maxConcurrent,
      serverUsdPerMonth: this.#serverBudget(set.server, user.workspaceId).value,
    };
    for (const view of this.#views(set)) limits[LIMIT_TO_FIELD[view.limit]] = view.value;
    return limits;
  }

  /**
   * Effective limits by user and roles, with the workspace's limits version
   * they were computed from. This runs before every answer: a hit costs no
   * database read, and reserve checks the version in the same statement, so a
   * cached entry is never enforced after the limits changed (in this process
   * or another).
   */
  readonly #limitsCache = new Map<string, { limits: EffectiveLimits; version?: number }>();

  async #limitsForReserve(user: UserKey, roleIds: readonly string[], fresh: boolean): Promise<{ limits: EffectiveLimits; version?: number }> {
    const key = limitsCacheKey(user, roleIds);
    const hit = fresh ? undefined : this.#limitsCache.get(key);
    if (hit !== undefined) {
      // Most recently used last: the first key is the one to evict.
      this.#limitsCache.delete(key);
      this.#limitsCache.set(key, hit);
      return hit;
    }
    const set = await this.store.getQuotaLimitSet(user.platform, user.workspaceId, user.userId, roleIds.length > 0 ? roleIds : undefined);
    const entry = set.version === undefined ? { limits: this.#effective(user, set) } : { limits: this.#effective(user, set), version: set.version };
    this.#limitsCache.delete(key);
    if (entry.version !== undefined) {
      this.#limitsCache.set(key, entry);
      if (this.#limitsCache.size > LIMITS_CACHE_SIZE) this.#limitsCache.delete(this.#limitsCache.keys().next().value!);
    }
    return entry;
  }

  #views(set: QuotaLimitSet): LimitView[] {
    return QUOTA_LIMITS.map((limit) => pick(limit, set.user, set.roles ?? {}, set.default, this.envDefault(limit)));
  }

  /** DMs are no server: their overall cap is QUOTA_DM_USD_PER_MONTH (or what the bot's admins set in a DM), never the server budget. */
  #serverBudget(server: QuotaLimitValues, workspaceId: string): { value: number | null; source: LimitSource } {
    const value = server['usd-per-month'];
    if (value !== undefined) return { value, source: 'server default' };
    const fallback = workspaceId === DM_WORKSPACE ? this.defaults.dmUsdPerMonth : this.defaults.serverUsdPerMonth;
    return { value: fallback, source: 'environment default' };
  }

  /** Worst case: every prompt token plus the whole output budget, at the model's prices. */
  estimateUsd(modelInfo: ModelInfo | undefined, model: string, promptTokens: number, maxTokens: number): number {
    if (model.endsWith(':free') || modelInfo?.isFree) return 0;
    return computeCostUsd(modelInfo, promptTokens, maxTokens) ?? 0;
  }

  /**
   * Reserves the worst case of the first round over every model that may
   * answer, or throws a UserFacingError saying which limit, the usage and the
   * reset; or, when a price is not known and a USD limit is in force, that the
   * price is not known. The reservation tops itself up before further rounds.
   */
  async reserve(request: ReservationRequest): Promise<Reservation> {
    const models = [request.model, ...(request.fallbacks ?? [])];
    const priceOf = request.priceOf ?? (async () => priceFromInfo(request.model, request.modelInfo));
    const roleIds = request.roleIds ?? [];
    const [cached, price] = await Promise.all([this.#limitsForReserve(request.user, roleIds, false), priceOf(models)]);
    let read = cached;
    // A refusal is never given on cached limits: read them again first.
    if (!price.known && usdLimited(read.limits) && read.version !== undefined) read = await this.#limitsForReserve(request.user, roleIds, true);
    const now = this.now();
    let limits = read.limits;
    if (!price.known && usdLimited(limits)) throw unknownPriceError(price, limits);
    const estimate = {
      tokens: request.promptTokens + request.maxTokens,
      usd: price.known ? worstCostUsd(price.pricing, request.promptTokens, request.maxTokens) : 0,
    };
    for (let attempt = 1; ; attempt++) {
      const result = await this.store.reserve({
        id: request.requestId,
        user: request.user,
        channelId: request.channelId,
        limits,
        estimate,
        now,
        ttlMs: this.defaults.reservationTtlMs,
        owner: this.owner,
        // Past a few changes in a row, the limits just read are used as read (as without a cache).
        ...(read.version !== undefined && attempt < STALE_ATTEMPTS ? { limitsVersion: read.version } : {}),
      });
      if (result.ok) break;
      if (result.stale) {
        read = await this.#limitsForReserve(request.user, roleIds, true);
        limits = read.limits;
        if (!price.known && usdLimited(limits)) throw unknownPriceError(price, limits);
        continue;
      }
      throw new UserFacingError('quota', describeRefusal(result, now), { publicMessage: describeRefusalPublicly(result, now) });
    }
    return new Reservation(
      {
        topUp: (total) =>
          this.store.topUp({
            id: request.requestId,
            user: request.user,
            channelId: request.channelId,
            limits,
            estimate: total,
            now: this.now(),
            ttlMs: this.defaults.reservationTtlMs,
            owner: this.owner,
          }),
        priceOf,
      },
      limits,
      models,
      price,
      estimate,
      request.maxTokens,
    );
  }

  #spool?: { keep: Pick<SettleSpool, 'add'>; retryDelaysMs: readonly number[] };

  /** Where settles that fail past their retries go (app wiring); tests shorten the retries. */
  spoolFailedSettles(keep: Pick<SettleSpool, 'add'>, retryDelaysMs: readonly number[] = SETTLE_RETRY_DELAYS_MS): void {
    this.#spool = { keep, retryDelaysMs };
  }

  /**
   * Writes the ledger row and frees the reservation. A database that is away
   * for a few seconds (a restart, a lost connection) must not lose the row or
   * hold the reservation until it expires, so failures are retried with
   * backoff; store.settle is idempotent on the request id, so a retry after a
   * commit whose reply was lost writes nothing twice. Past the retries the
   * settle goes to the spool (when one is wired), which retries it until it lands.
   */
  async settle(reservationId: string | null, entry: LedgerEntry): Promise<void> {
    const delays = this.#spool?.retryDelaysMs ?? SETTLE_RETRY_DELAYS_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.settle(reservationId, entry);
        return;
      } catch (error) {
        const delay = delays[attempt];
        if (delay === undefined && this.#spool) return this.#spool.keep.add(reservationId, entry);
        if (delay === undefined) throw error;
        this.onRetry?.(error, attempt + 1, delay);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/** Users (with their roles) whose limits are kept between answers, per process. */
const LIMITS_CACHE_SIZE = 10_000;
/** Reserves with a version that changed, before the limits just read are used without one. */
const STALE_ATTEMPTS = 3;

function limitsCacheKey(user: UserKey, roleIds: readonly string[]): string {
  const roles = roleIds.length > 1 ? [...roleIds].sort() : roleIds;
  return `${user.platform}\u0000${user.workspaceId}\u0000${user.userId}\u0000${roles.join('\u0001')}`;
}

/** The fewest output tokens worth a last round without tools; below this nothing more is sent. */
const MIN_ANSWER_TOKENS = 32;
/** Keeps float noise from putting a round a hair above what is reserved. */
const USD_EPSILON = 1e-12;

/**
 * A request's reservation, held from reserve to settle. A tool loop sends the
 * grown prompt again each round, so before each round (see ChatOptions.
 * beforeRound) it makes sure it covers what the rounds so far cost plus this
 * round's worst case, topping itself up in the store (atomically, with every
 * limit check) when it does not. When the top-up is refused the round goes
 * without tools and with no more output than the reservation still covers,
 * so what is settled never exceeds what was reserved.
 */
export class Reservation {
  /** Upper bound on the spend of the rounds already allowed. */
  #committedUsd = 0;
  #modelsKey: string;
  /** The limit that refused the last top-up, if one did. */
  refusal: QuotaRefusal | undefined;

  constructor(
    private readonly deps: {
      topUp: (total: { tokens: number; usd: number }) => Promise<TopUpResult>;
      priceOf: (models: readonly string[]) => Promise<WorstCasePrice>;
    },
    private readonly limits: EffectiveLimits,
    models: readonly string[],
    private price: WorstCasePrice,
    private held: { tokens: number; usd: number },
    private readonly maxTokens: number,
  ) {
    this.#modelsKey = models.join('\n');
  }

  /** What is reserved now. */
  get reserved(): { tokens: number; usd: number } {
    return { ...this.held };
  }

  async beforeRound(plan: RoundPlan): Promise<RoundDecision> {
    const usd = usdLimited(this.limits);
    const tokens = isSet(this.limits.tokensPerDay);
    if (!usd && !tokens) return { send: true, tools: true };
    const key = plan.models.join('\n');
    if (key !== this.#modelsKey) {
      // A hook changed the models: price what will really be sent.
      this.#modelsKey = key;
      this.price = await this.deps.priceOf(plan.models);
    }
    const price = this.price;
    if (!price.known) return usd ? { send: false } : { send: true, tools: true };
    const pricing = price.pricing;
    const maxTokens = plan.maxTokens ?? this.maxTokens;
    const spentUsd = plan.spent.costSource === 'unknown' ? Math.max(plan.spent.costUsd, this.#committedUsd) : plan.spent.costUsd;
    const spentTokens = plan.spent.promptTokens + plan.spent.completionTokens;
    const prompt = plan.promptTokens + plan.toolTokens;
    const needed = { tokens: spentTokens + prompt + maxTokens, usd: spentUsd + worstCostUsd(pricing, prompt, maxTokens) };
    if (needed.usd <= this.held.usd && needed.tokens <= this.held.tokens) {
      this.#committedUsd = needed.usd;
      return { send: true, tools: true };
    }
    const total = { tokens: Math.max(needed.tokens, this.held.tokens), usd: Math.max(needed.usd, this.held.usd) };
    let result: TopUpResult;
    try {
      result = await this.deps.topUp(total);
    } catch {
      // The store is away: what is already held still bounds a last round.
      result = { ok: false, limit: usd ? 'usd-per-day' : 'tokens-per-day', used: 0, max: 0 };
    }
    if (result.ok) {
      this.held = total;
      this.#committedUsd = needed.usd;
      return { send: true, tools: true };
    }
    this.refusal = result;
    // Without tools: the prompt alone, and as much output as the reservation still covers.
    let budget = maxTokens;
    if (pricing.completion > 0) {
      const left = this.held.usd - spentUsd - worstCostUsd(pricing, plan.promptTokens, 0) - USD_EPSILON;
      budget = Math.min(budget, Math.floor(left / pricing.completion));
    } else if (this.held.usd - spentUsd - worstCostUsd(pricing, plan.promptTokens, 0) < -USD_EPSILON) {
      budget = 0;
    }
    if (tokens) budget = Math.min(budget, this.held.tokens - spentTokens - plan.promptTokens);
    if (budget < Math.min(MIN_ANSWER_TOKENS, maxTokens) || budget <= 0) return { send: false };
    this.#committedUsd = spentUsd + worstCostUsd(pricing, plan.promptTokens, budget);
    return budget < maxTokens ? { send: true, tools: false, maxTokens: budget } : { send: true, tools: false };
  }
}

/** Every prompt token and the whole output budget at the worst per-token prices, plus the per-request price. */
export function worstCostUsd(pricing: ModelPricing, promptTokens: number, maxTokens: number): number {
  return promptTokens * pricing.prompt + maxTokens * pricing.completion + pricing.request;
}

function priceFromInfo(model: string, info: ModelInfo | undefined): WorstCasePrice {
  if (model.endsWith(':free') || info?.isFree) return { known: true, pricing: { prompt: 0, completion: 0, request: 0 } };
  if (info && !isVariablePrice(info.pricing)) return { known: true, pricing: info.pricing };
  return { known: false, model, reason: info ? 'not-listed' : 'catalog-unavailable' };
}

function isSet(value: number | null | undefined): value is number {
  return value !== null && value !== undefined;
}

/** Whether a USD limit of the user's, or the server's budget, is in force. */
function usdLimited(limits: EffectiveLimits): boolean {
  return isSet(limits.usdPerDay) || isSet(limits.usdPerMonth) || isSet(limits.serverUsdPerMonth);
}

function unknownPriceError(price: Extract<WorstCasePrice, { known: false }>, limits: EffectiveLimits): UserFacingError {
  const whose = isSet(limits.usdPerDay) || isSet(limits.usdPerMonth) ? 'you have a spending limit' : 'this server has a spending budget';
  const message = price.model.startsWith('@preset/')
    ? `\`${price.model}\` is an OpenRouter preset, whose price is not known here, and ${whose}; ask an admin to pick a model with a listed price here (\`/model set\`).`
    : price.reason === 'catalog-unavailable'
      ? `The price of \`${price.model}\` is not known right now (model catalog unavailable), and ${whose}; try again shortly or pick a listed model.`
      : `The price of \`${price.model}\` is not listed in OpenRouter's model catalog, and ${whose}; pick a listed model (or ask an admin to change the fallbacks).`;
  return new UserFacingError('quota', message);
}

/** About 10 s in all: long enough for a database restart or failover. */
const SETTLE_RETRY_DELAYS_MS = [100, 250, 500, 1000, 2000, 3000, 3000];

/**
 * A user's own limit wins; else the most generous of their roles' tiers (no
 * limit beats any number, a larger number a smaller one); else the server's
 * default; else the environment's.
 */
function pick(
  limit: QuotaLimitName,
  own: QuotaLimitValues,
  roles: Record<string, QuotaLimitValues>,
  serverDefault: QuotaLimitValues,
  envDefault: number | null,
): LimitView {
  if (own[limit] !== undefined) return { limit, value: own[limit], source: 'user' };
  let best: LimitView | undefined;
  for (const roleId of Object.keys(roles).sort()) {
    const value = roles[roleId]?.[limit];
    if (value === undefined) continue;
    if (!best || (best.value !== null && (value === null || value > best.value))) best = { limit, value, source: 'role', roleId };
  }
  if (best) return best;
  if (serverDefault[limit] !== undefined) return { limit, value: serverDefault[limit], source: 'server default' };
  return { limit, value: envDefault, source: 'environment default' };
}

const LIMIT_WORDS: Record<LimitName, string> = {
  'requests-per-day': 'daily request limit',
  'tokens-per-day': 'daily token limit',
  'usd-per-day': 'daily spending limit',
  'usd-per-month': 'monthly spending limit',
  'server-usd-per-month': "this server's monthly budget",
  'concurrent-requests': 'limit of answers running at once',
};

export function formatAmount(limit: LimitName, value: number): string {
  if (limit.startsWith('usd') || limit === 'server-usd-per-month') return formatUsd(value);
  if (limit === 'tokens-per-day') return `${Math.round(value).toLocaleString('en-US')} tokens`;
  return `${Math.round(value)}`;
}

export function formatUsd(value: number): string {
  if (value === 0) return '$0';
  if (value < 0.01) return `$${value.toFixed(4)}`;
  return `$${value.toFixed(2)}`;
}

export function formatDuration(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days`;
}

function resetWords(result: QuotaRefusal, now: Date): string {
  return result.resetsAt
    ? ` It resets ${result.resetsAt.toISOString().replace('T', ' ').slice(0, 16)} UTC (in ${formatDuration(result.resetsAt.getTime() - now.getTime())}).`
    : '';
}

/**
 * The refusal as it may be read by others (a reply in a channel): which limit
 * and when it resets, never anyone's spending. The amounts are for /usage and
 * private replies.
 */
export function describeRefusalPublicly(result: QuotaRefusal, now: Date): string {
  const what = LIMIT_WORDS[result.limit];
  if (result.limit === 'concurrent-requests') return `You already have the most answers running at once (the ${what}). Wait for one to finish or use /stop.`;
  const subject = result.limit === 'server-usd-per-month' ? `This server has reached ${what}` : `You have reached your ${what}`;
  return `${subject}.${resetWords(result, now)} \`/usage\` shows the details privately; an admin can raise the limit with /quota set.`;
}

export function describeRefusal(result: QuotaRefusal, now: Date): string {
  const what = LIMIT_WORDS[result.limit];
  if (result.limit === 'concurrent-requests') {
    return `You already have ${result.used} answer${result.used === 1 ? '' : 's'} running (the ${what} is ${result.max}). Wait for one to finish or use /stop.`;
  }
  const used = formatAmount(result.limit, result.used);
  const max = formatAmount(result.limit, result.max);
  const reset = resetWords(result, now);
  const subject = result.limit === 'server-usd-per-month' ? `This server has reached ${what}` : `You have reached your ${what}`;
  return `${subject}: ${used} used of ${max}, and this request could need more.${reset} An admin can raise it with /quota set.`;
}
