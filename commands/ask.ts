import { z } from 'zod';
import { defineCommand, withHints } from '../src/core/commands.ts';
import { UserFacingError } from '../src/core/errors.ts';

export default defineCommand({
  name: 'ask',
  description: 'Ask the model; the answer streams in',
  options: z.object({
    prompt: z.string().describe('What to ask'),
    model: withHints(z.string().optional().describe('Model for this question (where the channel allows it)'), {
      autocomplete: 'model',
    }),
    private: z.boolean().optional().describe('Only you see the answer (an ephemeral reply)'),
    file: withHints(z.string().optional().describe('A file for the model: an image, a PDF or a text file'), { attachment: true }),
  }),
  // Streams its answer (public deferral, Retry), and answers messages addressed to the bot.
  streamsAnswer: { promptOption: 'prompt', privateOption: 'private' },
  answersMessages: true,
  async execute({ options, invocation, core, isAdmin }) {
    if (options.file !== undefined && !invocation.attachments?.length) {
      // Only Discord has a file option; elsewhere a file rides on a message (Slack) or /attach (terminal).
      throw new UserFacingError('bad-input', 'Attach the file itself: mention me in a message with the file, or in the terminal use `/attach <path>` before asking.');
    }
    const surface = await invocation.answerSurface();
    const result = await core.pipeline.ask({
      requestId: invocation.requestId,
      place: invocation,
      user: invocation.user,
      prompt: options.prompt,
      parts: invocation.parts,
      ...(invocation.attachments ? { attachments: invocation.attachments } : {}),
      // The file option's files live on no message: the answer's record keeps them for replies.
      ...(options.file !== undefined ? { attachmentsOutsideMessages: true } : {}),
      model: options.model,
      conversation: invocation.conversation,
      conversationKey: invocation.conversationKey,
      history: async () => (invocation.history ? await invocation.history() : []),
      surface,
      isAdmin,
      ...(invocation.rolesOf ? { rolesOf: invocation.rolesOf.bind(invocation) } : {}),
      signal: invocation.signal,
    });
    invocation.onAnswer?.(options.prompt, result.text, result.result?.fileAnnotations);
  },
});
