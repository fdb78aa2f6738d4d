import { defineCommand } from '../src/core/commands.ts';

export default defineCommand({
  name: 'stop',
  description: 'Stop your running answers',
  async execute({ invocation, core, reply }) {
    const stopped = core.pipeline.stop(
      { platform: invocation.platform, workspaceId: invocation.workspaceId, userId: invocation.user.id },
      invocation.user.name,
    );
    await reply(stopped === 0 ? 'You have no answer running.' : `Stopped ${stopped} answer${stopped === 1 ? '' : 's'}.`, {
      ephemeral: true,
    });
  },
});
