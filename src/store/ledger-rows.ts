import type { Database } from './schema.ts';
import type { LedgerEntry, Outcome } from './types.ts';

export function toLedgerRow(entry: LedgerEntry): Database['usage_ledger'] {
  return {
    request_id: entry.requestId,
    at: entry.at.getTime(),
    platform: entry.platform,
    workspace_id: entry.workspaceId,
    channel_id: entry.channelId,
    user_id: entry.userId,
    model_requested: entry.modelRequested,
    model_answered: entry.modelAnswered,
    tokens_in: entry.tokensIn,
    tokens_out: entry.tokensOut,
    tokens_reasoning: entry.tokensReasoning ?? 0,
    tokens_cached: entry.tokensCached ?? 0,
    cost_usd: entry.costUsd,
    generation_id: entry.generationId,
    outcome: entry.outcome,
    error_kind: entry.errorKind,
    web_search_requests: entry.webSearchRequests ?? 0,
    images_out: entry.imagesOut ?? 0,
    attachments: entry.attachments ?? 0,
  };
}

export function fromLedgerRow(row: Database['usage_ledger']): LedgerEntry {
  const reasoning = Number(row.tokens_reasoning ?? 0);
  return {
    ...(reasoning > 0 ? { tokensReasoning: reasoning } : {}),
    requestId: row.request_id,
    at: new Date(Number(row.at)),
    platform: row.platform,
    workspaceId: row.workspace_id,
    channelId: row.channel_id,
    userId: row.user_id,
    modelRequested: row.model_requested,
    modelAnswered: row.model_answered,
    tokensIn: Number(row.tokens_in),
    tokensOut: Number(row.tokens_out),
    tokensCached: Number(row.tokens_cached ?? 0),
    costUsd: Number(row.cost_usd),
    generationId: row.generation_id,
    outcome: row.outcome as Outcome,
    errorKind: row.error_kind,
    webSearchRequests: Number(row.web_search_requests ?? 0),
    imagesOut: Number(row.images_out ?? 0),
    // Present only when the question carried files, like tokensReasoning.
    ...(Number(row.attachments ?? 0) > 0 ? { attachments: Number(row.attachments) } : {}),
  };
}
