import { z } from 'zod';
import { defineCommand, withHints } from '../src/core/commands.ts';

export default defineCommand({
  name: 'ask',
  description: 'Ask the model; the answer streams in',
  options: z.object({
    prompt: z.string().describe('What to ask'),
    model: withHints(z.string().optional().describe('Model for this question (where the channel allows it)'), {
      autocomplete: 'model',
    }),
    private: z.boolean().optional().describe('Only you see the answer (an ephemeral reply)'),
  }),
  // Streams its answer (public deferral, Retry), and answers messages addressed to the bot.
  streamsAnswer: { promptOption: 'prompt', privateOption: 'private' },
  answersMessages: true,
  async execute({ options, invocation, core, isAdmin }) {
    const surface = await invocation.answerSurface();
    const result = await core.pipeline.ask({
      requestId: invocation.requestId,
      place: invocation,
      user: invocation.user,
      prompt: options.prompt,
      parts: invocation.parts,
      model: options.model,
      conversation: invocation.conversation,
      conversationKey: invocation.conversationKey,
      history: async () => (invocation.history ? await invocation.history() : []),
      surface,
      isAdmin,
      ...(invocation.rolesOf ? { rolesOf: invocation.rolesOf.bind(invocation) } : {}),
      signal: invocation.signal,
    });
    invocation.onAnswer?.(options.prompt, result.text);
  },
});
