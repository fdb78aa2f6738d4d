/**
 * Mentions (app_mention) and DMs (message.im): each becomes an InboundMessage
 * whose conversation is the thread the bot answers in. Reading the thread
 * starts at once, alongside the core's checks; the core asks for it through
 * port.history() only when the message is to be answered (a duplicate's
 * reading is dropped).
 */
import { slackUserGroups } from '../user-groups.ts';
import type { App } from '@slack/bolt';
import type { HistoryMessage } from '../../../core/conversation.ts';
import type { InboundMessage, InboundPort } from '../../../core/inbound.ts';
import { assistantStatusText, THINKING } from '../assistant-status.ts';
import { isDmChannel, PLATFORM, type SlackDeps } from '../deps.ts';
import { slackAttachments, type SlackFile } from '../files.ts';
import { replyInThread } from '../replies.ts';
import { isOwnMessage, lookupUser, readThread, toPlain } from '../thread.ts';

interface MessageEventLike {
  type: string;
  subtype?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  channel: string;
  channel_type?: string;
  team?: string;
  files?: SlackFile[];
}

interface EventBody {
  event_id?: string;
  team_id?: string;
}

export function register(app: App, deps: SlackDeps): void {
  app.event('app_mention', async ({ event, body }) => {
    onMessage(deps, event, body);
  });
  app.message(async ({ message, body }) => {
    const event = message as unknown as MessageEventLike;
    // Channel messages reach us only as app_mention; here only DMs count.
    if (event.channel_type !== 'im') return;
    onMessage(deps, event, body);
  });
}

function onMessage(deps: SlackDeps, event: MessageEventLike, body: EventBody): void {
  // Edits, joins and other subtypes are never questions: not worth an event. A message with files is one.
  if (event.subtype !== undefined && event.subtype !== 'file_share') return;
  deps.track(event.type, async () => deps.host.handle(await toInbound(deps, event, body)));
}

async function toInbound(deps: SlackDeps, event: MessageEventLike, body: EventBody): Promise<InboundMessage> {
  const teamId = body.team_id ?? event.team ?? deps.bot()?.teamId ?? 'unknown';
  const rootId = event.thread_ts ?? event.ts;
  const where = { platform: PLATFORM, workspaceId: teamId, channelId: event.channel, isDm: isDmChannel(event.channel, event.channel_type) };
  const base = {
    kind: 'message' as const,
    place: where,
    conversation: { ...where, rootId },
    // A mention inside a DM is both app_mention and message.im: the message is claimed too.
    dedupeKeys: [...(body.event_id ? [`slack:event:${body.event_id}`] : []), `slack:message:${teamId}:${event.channel}:${event.ts}`],
  };
  const user = event.user;
  if (!user || event.bot_id !== undefined || isOwnMessage(deps, event)) {
    const id = user ?? event.bot_id ?? 'unknown';
    return { ...base, parts: [], user: { id, name: id, isBot: true }, port: { reply: async () => undefined, isPlatformAdmin: async () => false } };
  }
  // Read only when the core asks (after its cheap checks and the quota reservation), once.
  let reading: Promise<HistoryMessage[]> | undefined;
  const threadTs = event.thread_ts;
  const history = () => (reading ??= threadTs ? readThread(deps, event.channel, threadTs, event.ts) : Promise.resolve([]));
  // The asker's name reaches the model only in a thread where several people talk: elsewhere a
  // name not yet known does not hold up the answer (the lookup goes on and fills the cache).
  const named = deps.directory.nameOf(user);
  const [text, name] = await Promise.all([toPlain(deps, event.text ?? ''), event.thread_ts ? named : (deps.directory.cachedName(user) ?? user)]);
  // A DM thread may be an assistant thread: the channel its user is viewing decides the settings there.
  const assistant = where.isDm && threadTs ? await deps.assistant().scope({ channel: event.channel, threadTs, teamId, text }) : undefined;
  return {
    ...base,
    ...(assistant ? { place: assistant.place, conversation: assistant.conversation } : {}),
    parts: [{ type: 'text', text }],
    ...(event.files && event.files.length > 0 ? { attachments: slackAttachments(deps, event.files) } : {}),
    user: { id: user, name, isBot: false },
    port: messagePort(deps, { channel: event.channel, teamId, rootId, user }, history),
  };
}

function messagePort(deps: SlackDeps, at: { channel: string; teamId: string; rootId: string; user: string }, history: () => Promise<HistoryMessage[]>): InboundPort {
  const status = deps.status.forThread(at.channel, at.rootId);
  return {
    reply: replyInThread(deps, { channel: at.channel, user: at.user, threadTs: at.rootId }),
    async answerSurface(requestId) {
      // The status calls run alongside the answer: the upstream request does not wait for Slack.
      void status.show(THINKING);
      return deps.surfaces.create({
        channel: at.channel,
        teamId: at.teamId,
        threadTs: at.rootId,
        userId: at.user,
        requestId,
        onProgress: (step) => void status.show(assistantStatusText(step)),
      });
    },
    history,
    isPlatformAdmin: () => deps.directory.isAdmin(at.user),
    lookupUser: (ref) => lookupUser(deps, ref),
    ...slackUserGroups(deps, at.teamId),
    onSettled: () => status.clear(),
  };
}
