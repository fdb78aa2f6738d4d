/**
 * Buttons. Every block action is acked at once (Slack wants it within 3 s)
 * and handed to the core: `switchboard_<action>` names the action, anything
 * else (a button of an older version) reaches the core as an action it does
 * not know, and the presser is told privately that it no longer works.
 */
import { slackUserGroups } from '../user-groups.ts';
import type { App, RespondFn } from '@slack/bolt';
import type { InboundAction, InboundPort } from '../../../core/inbound.ts';
import { ACTION_PREFIX } from '../blocks.ts';
import { isDmChannel, PLATFORM, type SlackDeps } from '../deps.ts';
import { replyVia } from '../replies.ts';

interface ActionBody {
  user: { id: string };
  team?: { id?: string } | null;
  channel?: { id?: string };
  container?: { channel_id?: string; thread_ts?: string };
}

interface PressedButton {
  action_id?: string;
  value?: unknown;
}

export function register(app: App, deps: SlackDeps): void {
  app.action(/.*/, async ({ ack, body, action, respond }) => {
    await ack();
    deps.track('button', () => onAction(deps, body, action as PressedButton, respond));
  });
}

/** `switchboard_stop` -> 'stop'; an id not ours stays as it is (the core does not know it). */
function actionName(actionId: string): string {
  return actionId.startsWith(ACTION_PREFIX) ? actionId.slice(ACTION_PREFIX.length) : actionId;
}

async function onAction(deps: SlackDeps, body: ActionBody, action: PressedButton, respond: RespondFn): Promise<void> {
  const userId = body.user.id;
  const teamId = body.team?.id ?? deps.bot()?.teamId ?? 'unknown';
  const channel = body.channel?.id ?? body.container?.channel_id ?? '';
  const event: InboundAction = {
    kind: 'action',
    action: actionName(action.action_id ?? ''),
    requestId: typeof action.value === 'string' ? action.value : '',
    place: { platform: PLATFORM, workspaceId: teamId, channelId: channel, isDm: isDmChannel(channel) },
    user: { id: userId, name: await deps.directory.nameOf(userId) },
    port: actionPort(deps, { channel, teamId, userId, threadTs: body.container?.thread_ts }, replyVia(respond)),
  };
  await deps.host.handle(event);
}

/** Replies go privately to the presser; an answer the button asks for (Retry) goes where the button was. */
function actionPort(deps: SlackDeps, at: { channel: string; teamId: string; userId: string; threadTs?: string }, reply: InboundPort['reply']): InboundPort {
  return {
    reply: (text) => reply(text, { ephemeral: true }),
    async answerSurface(requestId) {
      return deps.surfaces.create({ channel: at.channel, teamId: at.teamId, threadTs: at.threadTs, userId: at.userId, requestId });
    },
    isPlatformAdmin: () => deps.directory.isAdmin(at.userId),
    ...slackUserGroups(deps, at.teamId),
  };
}
