/**
 * Slack's AI app split view. A thread there opens with a greeting and
 * suggested prompts; every message in it is answered without a mention, with
 * the thread as the conversation. The channel the user is viewing (the
 * thread's context, kept in the store so every process knows it) decides the
 * settings: the answer runs at a place whose parent channel is that channel,
 * in its workspace, so its model, prompt, tools and quotas apply, and the
 * answer's header says so. Without a context, the DM scope applies.
 */
import type { ConversationRef } from '../../core/conversation-key.ts';
import type { Place, ResolvedSettings, SettingSource } from '../../core/settings.ts';
import type { AssistantThread } from '../../core/store-types.ts';
import { BoundedMap } from '../../util/bounded-map.ts';
import { truncate } from '../../util/text.ts';
import { PLATFORM, type SlackDeps } from './deps.ts';
import { suggestedPrompts } from './suggested-prompts.ts';

/** Slack's thread titles are short. */
const TITLE_LIMIT = 60;
/** Threads whose last shown provenance is remembered (it is shown again when it changes). */
const SHOWN_CAPACITY = 5000;

export interface AssistantContext {
  channel_id?: string;
  team_id?: string;
  enterprise_id?: string;
}

export interface AssistantThreadEvent {
  user_id: string;
  channel_id: string;
  thread_ts: string;
  context?: AssistantContext;
}

/** Where a message in an assistant thread is answered. */
export interface AssistantScope {
  place: Place;
  conversation: ConversationRef;
}

const SOURCE_WORDS: Record<SettingSource, string> = {
  channel: 'set for this thread',
  'parent channel': 'set for that channel',
  server: "the workspace's",
  default: 'the default',
};

export class SlackAssistant {
  readonly #shown = new BoundedMap<string>(SHOWN_CAPACITY);

  constructor(
    private readonly deps: SlackDeps,
    private readonly prompts: readonly string[],
  ) {}

  /** assistant_thread_started: remember the thread and its context, greet, offer prompts. */
  async started(thread: AssistantThreadEvent): Promise<void> {
    const { deps } = this;
    const saved = this.#record(thread, thread.context, false);
    await deps.host.saveAssistantThread(saved);
    const where = await this.#describe(saved);
    await deps.client.chat.postMessage({
      channel: thread.channel_id,
      thread_ts: thread.thread_ts,
      text: `Hi! Ask me anything here; I answer in this thread. ${where}`,
      link_names: false,
      parse: 'none',
      unfurl_links: false,
    });
    await deps.client.assistant.threads.setSuggestedPrompts({
      channel_id: thread.channel_id,
      thread_ts: thread.thread_ts,
      title: 'Try one of these:',
      prompts: suggestedPrompts(this.prompts),
    });
  }

  /** assistant_thread_context_changed: the user looks at another channel now; its settings apply from the next question. */
  async contextChanged(thread: AssistantThreadEvent): Promise<void> {
    const known = await this.deps.host.assistantThread(PLATFORM, thread.channel_id, thread.thread_ts);
    await this.deps.host.saveAssistantThread(this.#record(thread, thread.context, known?.titled ?? false));
  }

  /**
   * A message in a DM thread: undefined when the thread is no assistant
   * thread. The first question becomes the thread's title.
   */
  async scope(at: { channel: string; threadTs: string; teamId: string; text: string }): Promise<AssistantScope | undefined> {
    const { deps } = this;
    const thread = await deps.host.assistantThread(PLATFORM, at.channel, at.threadTs);
    if (!thread) return undefined;
    if (!thread.titled && at.text.trim() !== '') {
      // Beside the answer, not before it: the title costs the first token nothing.
      deps.track('assistant title', async () => {
        await deps.client.assistant.threads
          .setTitle({ channel_id: at.channel, thread_ts: at.threadTs, title: truncate(at.text.replace(/\s+/g, ' ').trim(), TITLE_LIMIT) })
          .then(() => deps.host.saveAssistantThread({ ...thread, titled: true, updatedAt: new Date(deps.clock.now()) }))
          .catch((error: unknown) => deps.logger.warn({ err: error }, 'could not set the assistant thread title'));
      });
    }
    const place = placeOf(thread, at.teamId);
    await this.#sayProvenance(thread, place);
    return { place, conversation: { platform: PLATFORM, workspaceId: place.workspaceId, channelId: at.channel, rootId: at.threadTs } };
  }

  #record(thread: AssistantThreadEvent, context: AssistantContext | undefined, titled: boolean): AssistantThread {
    return {
      platform: PLATFORM,
      channelId: thread.channel_id,
      threadTs: thread.thread_ts,
      userId: thread.user_id,
      contextTeamId: context?.channel_id ? (context.team_id ?? null) : null,
      contextChannelId: context?.channel_id ?? null,
      titled,
      updatedAt: new Date(this.deps.clock.now()),
    };
  }

  /** "The settings of <#C1> apply: model `x` (set for that channel)." */
  async #describe(thread: AssistantThread): Promise<string> {
    const place = placeOf(thread, thread.contextTeamId ?? this.deps.bot()?.teamId ?? 'unknown');
    const settings = await this.deps.host.resolvedSettings(place);
    const model = modelWords(settings);
    return thread.contextChannelId ? `The channel you are viewing (<#${thread.contextChannelId}>) decides the settings: ${model}.` : `No channel in view, so the settings for direct messages apply: ${model}.`;
  }

  /**
   * A small line above the answer saying whose settings answer it, when they
   * differ from what this thread last said (a bot message with no answer
   * record: never part of the conversation).
   */
  async #sayProvenance(thread: AssistantThread, place: Place): Promise<void> {
    const { deps } = this;
    const settings = await deps.host.resolvedSettings(place);
    const line = thread.contextChannelId
      ? `⚙️ Settings of <#${thread.contextChannelId}> (the channel you are viewing): ${modelWords(settings)}`
      : `⚙️ No channel in view: the direct-message settings apply, ${modelWords(settings)}`;
    const key = `${thread.channelId}:${thread.threadTs}`;
    if (this.#shown.get(key) === line) return;
    this.#shown.set(key, line);
    await deps.client.chat
      .postMessage({
        channel: thread.channelId,
        thread_ts: thread.threadTs,
        text: line,
        blocks: [{ type: 'context', elements: [{ type: 'mrkdwn', text: line }] }],
        link_names: false,
        parse: 'none',
        unfurl_links: false,
      })
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'could not say which settings apply'));
  }
}

function modelWords(settings: ResolvedSettings): string {
  return `model \`${settings.model.value}\` (${SOURCE_WORDS[settings.model.source]})`;
}

/**
 * The place an assistant thread's answers run at: with a context, the DM
 * thread inside the viewed channel's workspace, that channel as its parent
 * (its settings and the workspace's quotas apply); without, the DM.
 */
export function placeOf(thread: AssistantThread, teamId: string): Place {
  if (thread.contextChannelId) {
    return { platform: PLATFORM, workspaceId: thread.contextTeamId ?? teamId, channelId: thread.channelId, parentChannelId: thread.contextChannelId, isDm: false };
  }
  return { platform: PLATFORM, workspaceId: teamId, channelId: thread.channelId, isDm: true };
}
