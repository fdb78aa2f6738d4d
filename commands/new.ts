import { defineCommand } from '../src/core/commands.ts';

export default defineCommand({
  name: 'new',
  description: 'Start a new conversation here (earlier messages are forgotten)',
  async execute({ invocation, core, reply }) {
    await core.store.setConversationReset(invocation.conversationKey, new Date(core.clock.now()));
    await reply('Starting afresh: the bot forgets the earlier messages of this conversation.', { ephemeral: true });
  },
});
