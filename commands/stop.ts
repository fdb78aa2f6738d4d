import { defineCommand } from '../src/core/commands.ts';
import { stopAnywhere } from '../src/core/remote-stop.ts';

export default defineCommand({
  name: 'stop',
  description: 'Stop your running answers',
  async execute({ invocation, core, reply }) {
    // Wherever they run: answers in other processes stop within a poll.
    const stopped = await stopAnywhere(
      core,
      { platform: invocation.platform, workspaceId: invocation.workspaceId, userId: invocation.user.id },
      invocation.user.name,
    );
    await reply(stopped === 0 ? 'You have no answer running.' : `Stopped ${stopped} answer${stopped === 1 ? '' : 's'}.`, {
      ephemeral: true,
    });
  },
});
