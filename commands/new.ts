import { defineCommand } from '../src/core/commands.ts';
import { conversationKey, describeReset } from '../src/core/conversation-key.ts';

export default defineCommand({
  name: 'new',
  description: 'Start a new conversation here (earlier messages are forgotten)',
  async execute({ invocation, core, reply }) {
    const where = invocation.conversation;
    const key = where ? conversationKey(where) : invocation.conversationKey;
    await core.store.setConversationReset(key, new Date(core.clock.now()));
    const scope = where ? describeReset(where) : 'this conversation';
    await reply(`Starting afresh in ${scope}: earlier messages there are no longer sent to the model.`, { ephemeral: true });
  },
});
