/**
 * Slash commands: one Bolt listener per command definition. Slack sends the
 * arguments as one line of text; it is parsed into options here and the rest
 * is the core's (the trigger id makes a re-sent command a duplicate).
 * Answers to commands that stream one go into the channel, under a line
 * saying who asked what.
 */
import { slackUserGroups } from '../user-groups.ts';
import type { App, RespondFn } from '@slack/bolt';
import { wantsPrivateAnswer, type CommandDefinition } from '../../../core/commands.ts';
import type { InboundCommand, InboundPort } from '../../../core/inbound.ts';
import { parseCommandLine } from '../../../core/parse-command-line.ts';
import { truncate } from '../../../util/text.ts';
import { isDmChannel, PLATFORM, type SlackDeps } from '../deps.ts';
import { slackCommandName } from '../command-names.ts';
import { createEphemeralSurface } from '../ephemeral-surface.ts';
import { replyVia } from '../replies.ts';
import { lookupUser } from '../thread.ts';

/** The question shown above an answer, at most this long. */
const HEADER_QUESTION_LIMIT = 200;

interface CommandBody {
  text: string;
  user_id: string;
  user_name: string;
  team_id: string;
  channel_id: string;
  trigger_id: string;
}

export function register(app: App, deps: SlackDeps): void {
  // SLACK_COMMAND_PREFIX: the Slack names carry it (/sb-ask), the core's commands do not.
  const slackName = (definition: CommandDefinition) => slackCommandName(definition, deps.commandPrefix);
  const known = new Set(deps.host.commands.map(slackName));
  for (const definition of deps.host.commands) {
    app.command(slackName(definition), async ({ ack, command, respond }) => {
      await ack();
      deps.track(slackName(definition), () => onCommand(deps, definition, command, respond));
    });
  }
  // A command the app's manifest still lists but this version does not know gets a clear private answer, not a timeout.
  app.command(/^\/.+/, async ({ ack, command, respond }) => {
    if (known.has(command.command)) return;
    await ack();
    deps.track(command.command, async () => {
      await replyVia(respond)(
        `I don't know \`${truncate(command.command, 40)}\` any more (the app was updated and this command was removed); \`/${deps.commandPrefix}ask\` and the other commands still work.`,
        { ephemeral: true },
      );
    });
  });
}

async function onCommand(deps: SlackDeps, definition: CommandDefinition, body: CommandBody, respond: RespondFn): Promise<void> {
  const reply = replyVia(respond);
  const parsed = parseCommandLine(`/${definition.name} ${body.text ?? ''}`, deps.host.commands);
  if (!parsed.ok) {
    await reply(parsed.error, { ephemeral: true });
    return;
  }
  const name = await deps.directory.nameOf(body.user_id).catch(() => body.user_name);
  const where = { platform: PLATFORM, workspaceId: body.team_id, channelId: body.channel_id, isDm: isDmChannel(body.channel_id) };
  const event: InboundCommand = {
    kind: 'command',
    name: parsed.command.name,
    subcommand: parsed.subName,
    options: parsed.options,
    place: where,
    // No root: a command speaks for the channel (a /new there covers its threads).
    conversation: where,
    user: { id: body.user_id, name },
    dedupeKeys: [`slack:trigger:${body.trigger_id}`],
    port: commandPort(deps, body, reply, headerFor(parsed.command, parsed.options, name), wantsPrivateAnswer(parsed.command, parsed.options)),
  };
  await deps.host.handle(event);
}

/** "Alice asked: …" when the command streams an answer to a question. */
function headerFor(command: CommandDefinition, options: Record<string, unknown>, name: string): string | undefined {
  const promptOption = command.streamsAnswer?.promptOption;
  const prompt = promptOption === undefined ? undefined : options[promptOption];
  return typeof prompt === 'string' && prompt !== '' ? `${name} asked: ${truncate(prompt, HEADER_QUESTION_LIMIT)}` : undefined;
}

function commandPort(deps: SlackDeps, body: CommandBody, reply: InboundPort['reply'], header: string | undefined, privately: boolean): InboundPort {
  return {
    reply,
    async answerSurface(requestId) {
      if (privately) return createEphemeralSurface({ client: deps.client, channel: body.channel_id, userId: body.user_id, teamId: body.team_id });
      return deps.surfaces.create({ channel: body.channel_id, teamId: body.team_id, userId: body.user_id, requestId, header });
    },
    isPlatformAdmin: () => deps.directory.isAdmin(body.user_id),
    lookupUser: (ref) => lookupUser(deps, ref),
    ...slackUserGroups(deps, body.team_id),
  };
}
