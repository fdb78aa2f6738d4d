/**
 * The narrow face of the core that adapters see. An adapter turns platform
 * events into InboundEvents and hands them to `handle`; everything it may ask
 * of the core besides is listed here, so a new platform knows exactly what it
 * can lean on (and the core can change behind it).
 */
import { SERVER_TOOLS } from './server-tools.ts';
import type { ModelInfo } from '../llm/types.ts';
import type { Logger } from '../log.ts';
import type { Tool } from '../tools/types.ts';
import type { AnswerRecord, AssistantThread } from '../store/types.ts';
import type { CommandDefinition } from './commands.ts';
import type { Core } from './core.ts';
import type { InboundEvent, InboundRouter } from './inbound.ts';
import type { RateBudget } from './rate-budget.ts';
import { buildDashboard, type Dashboard, type DashboardRequest } from './dashboard.ts';
import { plainSettings, type ChannelSettings, type Place, type ResolvedSettings } from './settings.ts';
import type { Clock } from './types.ts';

/** Event ids claimed outside the InboundRouter are kept this long (Slack re-delivers for minutes). */
const CLAIM_TTL_MS = 60 * 60 * 1000;

export interface AdapterHost {
  readonly logger: Logger;
  readonly clock: Clock;
  /** Per-channel write budgets shared with the renderer (replies, notices). */
  readonly budget: RateBudget;
  /** Every command, for the platform's own command registration. */
  readonly commands: readonly CommandDefinition[];
  /** The one entry point for inbound events. Never throws. */
  handle(event: InboundEvent): Promise<void>;
  /** The settings in force at a place, for platform decisions (Discord's thread per conversation). */
  settings(place: Place): Promise<ChannelSettings>;
  /** Catalog search, for autocomplete of options hinted `model`. */
  searchModels(typed: string, limit: number): Promise<ModelInfo[]>;
  /** Registered tools, for autocomplete of options hinted `tool`. */
  tools(): readonly Pick<Tool, 'name' | 'description'>[];
  /** Stops the answer a message belongs to (its message was deleted); returns how many stopped. */
  stopAnswer(place: Place, requestId: string, by: string): number;
  /** The platform said 429 outside the renderer (metrics). */
  rateLimited(info: { platform: string; route?: string; retryAfterMs: number }): void;
  /** Small persistent values (e.g. the hash of the registered commands). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Facts about the bot's own messages by id: which answer, its clean text,
   * the question behind it. History reads these instead of our formatted text;
   * a bot message with no record is not part of any conversation.
   */
  answerRecords(platform: string, channelId: string, messageIds: readonly string[]): Promise<Map<string, AnswerRecord>>;
  /** Records a message the adapter wrote on the bot's behalf that belongs to a conversation (a thread's opening question). */
  recordMessage(record: AnswerRecord): Promise<void>;
  /** The settings at a place with where each value comes from (provenance, as /model show tells it). */
  resolvedSettings(place: Place): Promise<ResolvedSettings>;
  /** Assistant threads (Slack's AI app view) and the channel their user was viewing, kept across processes. */
  assistantThread(platform: string, channelId: string, threadTs: string): Promise<AssistantThread | undefined>;
  saveAssistantThread(thread: AssistantThread): Promise<void>;
  /** A person's usage dashboard; with `isAdmin`, the workspace's too (the caller checked it with isAdmin). */
  dashboard(request: DashboardRequest): Promise<Dashboard>;
  /** Claims platform event ids for work outside InboundEvents (a greeting): true for the first process only. */
  claimEvents(keys: readonly string[]): Promise<boolean>;
  /** The bot's own admins and the platform's (the same check the commands use). */
  isAdmin(who: { platform: string; user: { id: string }; isDm?: boolean; isPlatformAdmin(): Promise<boolean> }): Promise<boolean>;
}

export function createAdapterHost(core: Core, router: InboundRouter): AdapterHost {
  return {
    logger: core.logger,
    clock: core.clock,
    budget: core.budget,
    commands: core.commands,
    handle: (event) => router.handle(event),
    settings: async (place) => plainSettings(await core.settings.resolve(place)),
    searchModels: (typed, limit) => core.catalog.search(typed.trim(), { limit }),
    tools: () => [...core.registry.list(), ...SERVER_TOOLS].sort((a, b) => a.name.localeCompare(b.name)),
    stopAnswer: (place, requestId, by) => core.pipeline.stop({ platform: place.platform, workspaceId: place.workspaceId, requestId }, by),
    rateLimited: (info) => core.events.emit('platform-rate-limited', info),
    getMeta: (key) => core.store.getMeta(key),
    setMeta: (key, value) => core.store.setMeta(key, value),
    async answerRecords(platform, channelId, messageIds) {
      const records = messageIds.length === 0 ? [] : await core.store.answerRecords(platform, channelId, messageIds);
      return new Map(records.map((record) => [record.messageId, record]));
    },
    recordMessage: (record) => core.store.recordAnswerMessages([record]),
    resolvedSettings: (place) => core.settings.resolve(place),
    assistantThread: (platform, channelId, threadTs) => core.store.assistantThread(platform, channelId, threadTs),
    saveAssistantThread: (thread) => core.store.saveAssistantThread(thread),
    dashboard: (request) => buildDashboard(core, request),
    isAdmin: (who) => core.isAdmin(who),
    claimEvents: (keys) => core.store.claimEvents(keys, new Date(core.clock.now()), CLAIM_TTL_MS),
  };
}
