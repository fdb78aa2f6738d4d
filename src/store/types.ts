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

/** Whose limit: one user, the default for every user of a workspace, or the workspace as a whole. */
export type QuotaSubject = { kind: 'user'; userId: string } | { kind: 'default' } | { kind: 'server' };

/** null = explicitly unlimited; a missing key = not set at this level. */
export type QuotaLimitValues = Partial<Record<QuotaLimitName, number | null>>;

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
}

export type ReserveResult =
  | { ok: true }
  | {
      ok: false;
      limit: LimitName;
      /** Usage against that limit, settled plus reserved, before this request. */
      used: number;
      max: number;
      /** When the window resets (undefined for the concurrency cap). */
      resetsAt?: Date;
    };

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
  costUsd: number;
  generationId: string | null;
  outcome: Outcome;
  /** e.g. LlmError kind, or the limit that refused. */
  errorKind: string | null;
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
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Runs migrations; idempotent and safe when two processes start at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Cheap liveness check. */
  ping(): Promise<void>;

  getSettings(scope: SettingsScope): Promise<Record<string, unknown>>;
  /** value undefined removes the key. Values are JSON. */
  setSetting(scope: SettingsScope, key: string, value: unknown): Promise<void>;
  clearSettings(scope: SettingsScope, keys?: string[]): Promise<void>;

  getQuotaLimits(platform: string, workspaceId: string, subject: QuotaSubject): Promise<QuotaLimitValues>;
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
   * Deletes the reservation (if still there) and writes exactly one ledger row,
   * in one transaction. Idempotent on requestId: a second call writes nothing.
   */
  settle(reservationId: string | null, entry: LedgerEntry): Promise<void>;
  /** Deletes reservations past their expiry; returns how many. */
  expireReservations(now: Date): Promise<number>;
  /** Deletes every reservation held by an owner (a process that is restarting). */
  releaseReservations(owner: string): Promise<number>;

  /** Day and month usage for a user (or the whole workspace when userId is omitted). */
  usage(platform: string, workspaceId: string, userId: string | undefined, now: Date): Promise<UsageSnapshot>;
  ledger(query: LedgerQuery): Promise<LedgerEntry[]>;

  /** /new: history before this time is ignored for the conversation key. */
  setConversationReset(key: string, at: Date): Promise<void>;
  getConversationReset(key: string): Promise<Date | undefined>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /** First caller for an event id gets true; later callers (any process) false. */
  claimEvent(eventId: string, now: Date, ttlMs: number): Promise<boolean>;
}
