import { z } from 'zod';
import { defineCommand, withHints } from '../src/core/commands.ts';

export default defineCommand({
  name: 'image',
  description: "Draw a picture with this channel's image model",
  options: z.object({
    prompt: z.string().describe('What to draw'),
    model: withHints(z.string().optional().describe('A model with image output (where the channel allows picking)'), {
      autocomplete: 'model',
    }),
  }),
  // Streams its answer like /ask (public deferral, Retry, threads); a picture is drawn afresh, without history.
  streamsAnswer: { promptOption: 'prompt' },
  async execute({ options, invocation, core, isAdmin }) {
    const surface = await invocation.answerSurface();
    await core.pipeline.ask({
      requestId: invocation.requestId,
      place: invocation,
      user: invocation.user,
      prompt: options.prompt,
      model: options.model,
      conversation: invocation.conversation,
      conversationKey: invocation.conversationKey,
      history: async () => [],
      surface,
      isAdmin,
      signal: invocation.signal,
      purpose: 'image',
    });
  },
});
