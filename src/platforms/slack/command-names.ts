/**
 * Slack slash command names are global to a workspace across apps, so they
 * can carry a prefix (SLACK_COMMAND_PREFIX): the manifest and the handlers
 * both name commands through here.
 */
import type { CommandDefinition } from '../../core/commands.ts';

/** `/ask`, or `/sb-ask` with the prefix `sb-`. */
export function slackCommandName(command: Pick<CommandDefinition, 'name'>, prefix = ''): string {
  return `/${prefix}${command.name}`;
}
