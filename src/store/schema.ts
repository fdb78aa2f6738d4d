/**
 * Row shapes as kysely sees them. Timestamps are epoch milliseconds (BIGINT in
 * PostgreSQL, parsed to number by the pool's type parsers).
 */
export interface Database {
  schema_migrations: { version: number; name: string; applied_at: number };
  settings: { platform: string; scope_kind: string; scope_id: string; key: string; value: string };
  quota_limits: {
    platform: string;
    workspace_id: string;
    subject_kind: string;
    /** The user's id for 'user', the role's for 'role'; '' otherwise (so it can sit in the primary key). */
    user_id: string;
    limit_name: string;
    /** null = explicitly unlimited. */
    value: number | null;
  };
  /** Raised on every change to a workspace's quota_limits (triggers, migration 14): cached limits are checked against it. */
  quota_limit_versions: { platform: string; workspace_id: string; version: number };
  /** Quota tiers (migration 12): a Discord role or Slack user group with limits in quota_limits (subject_kind 'role'). */
  quota_tiers: { platform: string; workspace_id: string; role_id: string; label: string };
  reservations: {
    id: string;
    platform: string;
    workspace_id: string;
    user_id: string;
    channel_id: string;
    tokens: number;
    usd: number;
    created_at: number;
    expires_at: number;
    owner: string | null;
  };
  usage_ledger: {
    request_id: string;
    at: number;
    platform: string;
    workspace_id: string;
    channel_id: string;
    user_id: string;
    model_requested: string;
    model_answered: string | null;
    tokens_in: number;
    tokens_out: number;
    tokens_reasoning: number;
    /** Prompt tokens read from the provider's cache, part of tokens_in (migration 6; 0 for older rows). */
    tokens_cached: number;
    cost_usd: number;
    generation_id: string | null;
    outcome: string;
    error_kind: string | null;
    /** Web searches OpenRouter ran for the answer (migration 7; 0 before). */
    web_search_requests: number;
    /** Pictures the model returned with the answer (migration 9; 0 before). */
    images_out: number;
    /** Files the question carried (migration 8; 0 before). */
    attachments: number;
  };
  /**
   * Running totals of settled, non-refused ledger rows per UTC day and month, kept
   * in the same transaction as the ledger insert, so a reserve reads a handful of
   * rows instead of summing the month's ledger.
   */
  usage_totals: {
    platform: string;
    workspace_id: string;
    /** '' for the workspace as a whole. */
    user_id: string;
    period: 'day' | 'month';
    /** Epoch ms of the UTC day or month start. */
    starts_at: number;
    requests: number;
    tokens: number;
    usd: number;
  };
  conversation_resets: { key: string; at: number };
  meta: { key: string; value: string };
  claimed_events: { event_id: string; expires_at: number };
  /** One row per running process, refreshed every INSTANCE_HEARTBEAT_MS (crash detection). */
  instances: { id: string; heartbeat_at: number };
  /** Answers reserved and not yet settled, so a process can mark those a dead one left half-written. */
  active_answers: {
    request_id: string;
    platform: string;
    workspace_id: string;
    channel_id: string;
    user_id: string;
    /** The model requested (the ledger row written for an interrupted answer needs it). */
    model: string;
    /** The instance running it; a sweeper takes rows over by setting itself here. */
    owner: string;
    started_at: number;
    /** Adapter-specific reference to the message the answer is shown in (see PostedMessage.ref). */
    message_ref: string | null;
    /** The answer's clean text so far (migration 3); null until known. */
    message_body: string | null;
  };
  /**
   * Stop pressed on a process that is not running the answer (migration 4):
   * the owner polls for its own answers' rows and deletes them as it stops them.
   */
  stop_requests: { request_id: string; requested_by: string; at: number };
  /** Facts about the bot's own messages, so history never re-parses its formatted output (migration 3). */
  answer_records: {
    platform: string;
    channel_id: string;
    message_id: string;
    request_id: string | null;
    /** 'answer' | 'question'. */
    kind: string;
    text: string;
    asker_id: string | null;
    asker_name: string | null;
    prompt: string | null;
    at: number;
    /** OpenRouter's `file` annotations as JSON (migration 8; null when none). */
    annotations: string | null;
    /** The question's files no message holds (an /ask option), as JSON (migration 13; null when none). */
    prompt_files: string | null;
  };
  /** One 👍 (1) or 👎 (-1) per user per answer (migration 11). */
  answer_feedback: { platform: string; request_id: string; user_id: string; vote: number; at: number };
  /** Slack assistant threads and the channel their user was viewing (migration 11). */
  assistant_threads: {
    platform: string;
    channel_id: string;
    thread_ts: string;
    user_id: string;
    context_team_id: string | null;
    context_channel_id: string | null;
    titled: number;
    updated_at: number;
  };
}
