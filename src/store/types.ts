/**
 * The store interface. Two backends (SQLite and PostgreSQL) implement it behind
 * one kysely query layer; the same contract suite runs against both.
 */

/** Where a setting lives: one channel (or thread), or a whole workspace/guild. */
export interface SettingsScope {
  platform: string;
  kind: 'channel' | 'workspace';
  /** Channel id for kind 'channel', workspace/guild id for kind 'workspace'. */
  id: string;
}

export const QUOTA_LIMITS = ['requests-per-day', 'tokens-per-day', 'usd-per-day', 'usd-per-month'] as const;
export type QuotaLimitName = (typeof QUOTA_LIMITS)[number];

/**
 * Whose limit: one user, a tier (a Discord role or Slack user group: everyone
 * in it), the default for every user of a workspace, or the workspace as a whole.
 */
export type QuotaSubject = { kind: 'user'; userId: string } | { kind: 'role'; roleId: string } | { kind: 'default' } | { kind: 'server' };

/** A quota tier: a role or user group with limits, named as it was when set (the platform may rename it since). */
export interface QuotaTier {
  roleId: string;
  label: string;
  limits: QuotaLimitValues;
}

/** null = explicitly unlimited; a missing key = not set at this level. */
export type QuotaLimitValues = Partial<Record<QuotaLimitName, number | null>>;
export interface QuotaLimitSet {
  user: QuotaLimitValues;
  default: QuotaLimitValues;
  server: QuotaLimitValues;
  /** The tiers of the roles asked for that have limits, by role id (present only when role ids were given). */
  roles?: Record<string, QuotaLimitValues>;
  /**
   * The workspace's limits version when this set was read (every change to
   * its limits raises it): limits computed from this set may be cached and
   * passed to reserve with it (ReserveRequest.limitsVersion).
   */
  version?: number;
}

export interface UserKey {
  platform: string;
  workspaceId: string;
  userId: string;
}

/** Effective limits for one reservation; undefined/null means no limit. */
export interface EffectiveLimits {
  requestsPerDay?: number | null;
  tokensPerDay?: number | null;
  usdPerDay?: number | null;
  usdPerMonth?: number | null;
  /** The workspace's monthly budget, across all its users. */
  serverUsdPerMonth?: number | null;
  /** Concurrent unsettled reservations per user. */
  maxConcurrent?: number | null;
}

export type LimitName = QuotaLimitName | 'server-usd-per-month' | 'concurrent-requests';

export interface ReserveRequest {
  id: string;
  user: UserKey;
  channelId: string;
  limits: EffectiveLimits;
  /** Worst case for this request. */
  estimate: { tokens: number; usd: number };
  now: Date;
  /** The reservation expires (stops counting) after this long unless settled. */
  ttlMs: number;
  /** Process that holds it (crash clean-up, logs). */
  owner?: string;
  /**
   * The QuotaLimitSet.version `limits` were computed from. When given, reserve
   * answers `{ ok: false, stale: true }` (and reserves nothing) if the
   * workspace's limits changed since, so limits may be cached without ever
   * being enforced stale. Top-ups ignore it (they keep the limits of their reserve).
   */
  limitsVersion?: number;
}

/** A refusal: which limit, the usage against it and when it resets. */
export interface QuotaRefusal {
  ok: false;
  stale?: undefined;
  limit: LimitName;
  /** Usage against that limit, settled plus reserved, before this request. */
  used: number;
  max: number;
  /** When the window resets (undefined for the concurrency cap). */
  resetsAt?: Date;
}

export type ReserveResult =
  | { ok: true }
  /** The limits changed since limitsVersion: read them again and retry (nothing was reserved). */
  | { ok: false; stale: true }
  | QuotaRefusal;

/** A top-up carries no limits version, so it is never stale. */
export type TopUpResult = { ok: true } | QuotaRefusal;

export type Outcome = 'ok' | 'error' | 'cancelled' | 'refused' | 'interrupted';

export interface LedgerEntry {
  requestId: string;
  at: Date;
  platform: string;
  workspaceId: string;
  channelId: string;
  userId: string;
  modelRequested: string;
  modelAnswered: string | null;
  tokensIn: number;
  tokensOut: number;
  /** Of tokensOut, spent thinking (`completion_tokens_details.reasoning_tokens`); 0 when none or unknown. */
  tokensReasoning?: number;
  /** Prompt tokens read from the provider's cache (part of tokensIn); 0 when none or not known. */
  tokensCached?: number;
  costUsd: number;
  generationId: string | null;
  outcome: Outcome;
  /** e.g. LlmError kind, or the limit that refused. */
  errorKind: string | null;
  /** Web searches OpenRouter ran (`server_tool_use_details.web_search_requests`); absent means 0. */
  webSearchRequests?: number;
  /** Pictures the model returned (image output) and the answer carried; absent means 0. */
  imagesOut?: number;
  /** Files (images, PDFs, text files) the question carried; absent means 0. */
  attachments?: number;
}

export interface UsageTotals {
  requests: number;
  tokens: number;
  usd: number;
}

export interface UsageSnapshot {
  day: UsageTotals;
  month: UsageTotals;
  /** Unsettled, unexpired reservations included in day/month above. */
  reserved: UsageTotals;
  dayResetsAt: Date;
  monthResetsAt: Date;
}

export interface LedgerQuery {
  from?: Date;
  to?: Date;
  platform?: string;
  workspaceId?: string;
  userId?: string;
  limit?: number;
  /** Newest rows first (default oldest first). */
  newestFirst?: boolean;
}

/** What ledgerTotals can group by; `model` is the model that answered, or the one requested when none did. */
export const LEDGER_GROUP_KEYS = ['platform', 'workspaceId', 'userId', 'channelId', 'model'] as const;
export type LedgerGroupKey = (typeof LEDGER_GROUP_KEYS)[number];

export interface LedgerTotalsQuery {
  from?: Date;
  /** Exclusive. */
  to?: Date;
  platform?: string;
  workspaceId?: string;
  groupBy: readonly LedgerGroupKey[];
  /** Keep the first n groups (by cost, then requests). */
  limit?: number;
}

export interface LedgerTotalsRow {
  /** One value per groupBy key. */
  group: Partial<Record<LedgerGroupKey, string>>;
  requests: number;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
}

/** An answer reserved and not yet settled (crash recovery). */
export interface ActiveAnswer {
  requestId: string;
  platform: string;
  workspaceId: string;
  channelId: string;
  userId: string;
  /** The model requested. */
  model: string;
  /** The instance (Core.instanceId) running it. */
  owner: string;
  startedAt: Date;
  /** Where the answer is shown, as the adapter serialised it (PostedMessage.ref); null until posted. */
  messageRef: string | null;
  /** The answer's clean text so far (no footer, cursor or status), so the sweeper can close it off; null until known. */
  messageBody: string | null;
}

/** A message the bot wrote that belongs to a conversation. */
export interface AnswerRecord {
  platform: string;
  channelId: string;
  messageId: string;
  /** The answer it is part of; null for messages outside answers (a thread's opening question). */
  requestId: string | null;
  kind: 'answer' | 'question';
  /** Clean text: the answer's text in this message (no footer, cursor, status), or the question. */
  text: string;
  /** Who asked (answers) or whose question it is (questions). */
  askerId: string | null;
  askerName: string | null;
  /** The question behind an answer (an /ask answer does not show it). */
  prompt: string | null;
  at: Date;
  /** OpenRouter's `file` annotations of the answer (a PDF it parsed), sent back on follow-ups; absent when none. */
  annotations?: unknown[];
  /**
   * Files the question carried that no platform message holds (Discord's `/ask`
   * `file` option), so a reply to the answer can send them again; absent when none.
   */
  promptFiles?: RecordedFile[];
}

/** A file kept with an answer record: enough to fetch it again while its URL lives. */
export interface RecordedFile {
  /** The core's attachment id (the cache key). */
  id: string;
  name: string;
  mime?: string;
  size: number;
  url: string;
}

export interface Store extends FeedbackAndDashboardStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Runs migrations; idempotent and safe when two processes start at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Cheap liveness check. */
  ping(): Promise<void>;

  getSettings(scope: SettingsScope): Promise<Record<string, unknown>>;
  /** Several scopes in one read, in the order given (the settings resolution runs before every answer). */
  getSettingsOf(scopes: readonly SettingsScope[]): Promise<Array<Record<string, unknown>>>;
  /** value undefined removes the key. Values are JSON. */
  setSetting(scope: SettingsScope, key: string, value: unknown): Promise<void>;
  clearSettings(scope: SettingsScope, keys?: string[]): Promise<void>;

  getQuotaLimits(platform: string, workspaceId: string, subject: QuotaSubject): Promise<QuotaLimitValues>;
  /** One user's own limits, their roles' tiers, the workspace's defaults and its server budget, in one read (the quota check's). */
  getQuotaLimitSet(platform: string, workspaceId: string, userId: string, roleIds?: readonly string[]): Promise<QuotaLimitSet>;
  /** Names a role's tier (its limits are set with setQuotaLimit and a `role` subject). */
  setQuotaTier(platform: string, workspaceId: string, roleId: string, label: string): Promise<void>;
  /** Every tier of a workspace with its limits, by label. */
  listQuotaTiers(platform: string, workspaceId: string): Promise<QuotaTier[]>;
  /** Removes a tier and its limits. */
  deleteQuotaTier(platform: string, workspaceId: string, roleId: string): Promise<void>;
  /** value undefined removes the override (falls back to the next level); null = unlimited. */
  setQuotaLimit(
    platform: string,
    workspaceId: string,
    subject: QuotaSubject,
    limit: QuotaLimitName,
    value: number | null | undefined,
  ): Promise<void>;
  clearQuotaLimits(platform: string, workspaceId: string, subject: QuotaSubject): Promise<void>;

  /**
   * Atomically checks every limit (settled ledger rows in the UTC day/month plus
   * live reservations) and inserts the reservation. Holds across processes.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /**
   * Raises the reservation `request.id` to `request.estimate` in all (never
   * lowers it), atomically and with the same limit checks as reserve, counting
   * the raise against settled usage plus every live reservation (this one
   * included). A further round of a tool loop asks for this before it is sent.
   * The raise is not a new request: it does not count against the request or
   * concurrency limits. A reservation that has expired or was released is
   * reserved again from scratch (with every check).
   */
  topUp(request: ReserveRequest): Promise<TopUpResult>;
  /**
   * Deletes the reservation (if still there) and the tracked answer, and writes
   * exactly one ledger row, in one transaction. Idempotent on requestId: a
   * second call writes nothing, with one exception: a real settle (any
   * errorKind but 'process-died') replaces the 'interrupted'/'process-died'
   * row a sweeper wrote for an answer whose process it wrongly took for dead,
   * so its real usage is counted (the row keeps its time). A 'process-died'
   * row never replaces another row.
   */
  settle(reservationId: string | null, entry: LedgerEntry): Promise<void>;
  /** Deletes reservations past their expiry; returns how many. */
  expireReservations(now: Date): Promise<number>;
  /** Deletes every reservation held by an owner (a process that is restarting). */
  releaseReservations(owner: string): Promise<number>;

  /** Day and month usage for a user (or the whole workspace when userId is omitted). */
  usage(platform: string, workspaceId: string, userId: string | undefined, now: Date): Promise<UsageSnapshot>;
  ledger(query: LedgerQuery): Promise<LedgerEntry[]>;
  /**
   * Ledger rows summed per group (refused rows left out, as in the quota
   * totals), most expensive first: /usage top and npm run usage:report. One
   * GROUP BY query, so a month of ledger is never loaded into memory.
   */
  ledgerTotals(query: LedgerTotalsQuery): Promise<LedgerTotalsRow[]>;

  /** /new: history before this time is ignored for the conversation key. */
  setConversationReset(key: string, at: Date): Promise<void>;
  getConversationReset(key: string): Promise<Date | undefined>;
  /** The latest reset among several keys (one read), undefined when none of them was reset. */
  getConversationResets(keys: readonly string[]): Promise<Date | undefined>;

  /**
   * Upserts on (platform, channelId, messageId): a later record for the same
   * message replaces the earlier (within one call too: the last one wins). One
   * statement for many rows.
   */
  recordAnswerMessages(records: readonly AnswerRecord[]): Promise<void>;
  /** The records of these messages in one channel (missing ones are simply absent), in one query. */
  answerRecords(platform: string, channelId: string, messageIds: readonly string[]): Promise<AnswerRecord[]>;
  /** Deletes records older than `before` (housekeeping); returns how many. */
  pruneAnswerRecords(before: Date): Promise<number>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /** First caller for an event id gets true; later callers (any process) false. */
  claimEvent(eventId: string, now: Date, ttlMs: number): Promise<boolean>;
  /**
   * Several ids in one statement: true only when this caller got every one of
   * them. Ids it did get stay claimed either way (a duplicate of any of them is
   * a duplicate of the whole).
   */
  claimEvents(eventIds: readonly string[], now: Date, ttlMs: number): Promise<boolean>;

  /** Records that this instance is alive (upsert), at the database's clock, so hosts' clocks never matter. */
  heartbeat(instanceId: string): Promise<void>;
  /** Records an answer that has a reservation and may be shown; settle() deletes it. */
  trackAnswer(answer: ActiveAnswer): Promise<void>;
  /** Stores where the answer is shown (no-op when it is no longer tracked). */
  setAnswerMessageRef(requestId: string, ref: string): Promise<void>;
  /** Stores where the answer is shown and its clean text so far (no-op when it is no longer tracked). */
  setAnswerProgress(requestId: string, ref: string, body: string): Promise<void>;
  /**
   * In one transaction: finds the instances whose heartbeat is older than
   * `staleMs` by the database's clock (never `selfId`; an owner that never sent a heartbeat is left to
   * the reservation TTL), hands their tracked answers over to `selfId` and
   * returns them, deletes their reservations (freeing the quota at once) and
   * their heartbeat rows. The caller settles each answer, which deletes it; if
   * the caller dies first, its own heartbeat goes stale and the next sweep
   * takes them again, so no answer is lost or settled twice.
   */
  takeOrphanedAnswers(staleMs: number, selfId: string): Promise<ActiveAnswer[]>;

  /** Tracked answers of one workspace, optionally of one user or one request (Stop and /stop in another process). */
  activeAnswers(filter: ActiveAnswerFilter): Promise<ActiveAnswer[]>;
  /**
   * Asks whichever process runs these answers to stop them (it polls with
   * takeStopRequests). A repeated request keeps the first; requests nobody
   * took within an hour are dropped.
   */
  requestStops(requestIds: readonly string[], requestedBy: string): Promise<void>;
  /** Deletes and returns the stop requests for answers `owner` runs: one indexed query. */
  takeStopRequests(owner: string): Promise<StopRequest[]>;
}

export interface ActiveAnswerFilter {
  platform: string;
  workspaceId: string;
  userId?: string;
  requestId?: string;
}

export interface StopRequest {
  requestId: string;
  requestedBy: string;
}

/** A 👍 (1) or 👎 (-1) on one answer by one user. */
export interface FeedbackVote {
  platform: string;
  requestId: string;
  userId: string;
  vote: 1 | -1;
  at: Date;
}

/** Votes on the answers of one model (the model that answered, or the one requested). */
export interface SatisfactionRow {
  model: string;
  up: number;
  down: number;
}

/** A Slack assistant thread: the channel its user was viewing decides the settings there. */
export interface AssistantThread {
  platform: string;
  channelId: string;
  threadTs: string;
  userId: string;
  contextTeamId: string | null;
  contextChannelId: string | null;
  /** The thread's title was set from its first question. */
  titled: boolean;
  updatedAt: Date;
}

/** Spend of one model on one UTC day. */
export interface DailySpendRow {
  /** The UTC day's start. */
  day: Date;
  model: string;
  requests: number;
  costUsd: number;
}

export interface WorkspaceWindow {
  platform: string;
  workspaceId: string;
  from: Date;
  /** Exclusive. */
  to: Date;
}

/** Answer feedback, assistant threads and the dashboard's queries (migration 11). */
export interface FeedbackAndDashboardStore {
  /** One vote per user per answer: a later vote replaces the earlier. */
  setFeedback(vote: FeedbackVote): Promise<void>;
  /** Votes per model on the workspace's answers settled in the window, most votes first. */
  satisfaction(query: WorkspaceWindow): Promise<SatisfactionRow[]>;
  /** Upserts the thread on (platform, channelId, threadTs). */
  saveAssistantThread(thread: AssistantThread): Promise<void>;
  assistantThread(platform: string, channelId: string, threadTs: string): Promise<AssistantThread | undefined>;
  /** Spend per UTC day and model (refused rows left out), oldest day first: one GROUP BY. */
  dailySpend(query: WorkspaceWindow): Promise<DailySpendRow[]>;
  /** Channels of a workspace with settings of their own, and which keys they set. */
  channelsWithSettings(platform: string, workspaceId: string): Promise<Array<{ channelId: string; keys: string[] }>>;
}
