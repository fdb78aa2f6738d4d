/**
 * An in-process Invocation (what an adapter builds for each command) over a
 * fake surface, recording every reply.
 */
import { findCommand, runCommand, type Invocation } from '../../src/core/commands.ts';
import type { Core } from '../../src/core/core.ts';
import type { HistoryMessage } from '../../src/core/conversation.ts';
import { systemClock } from '../../src/core/types.ts';
import { createFakeSurface, type FakeSurface } from '../fakes/fake-surface.ts';

export interface Reply {
  text: string;
  ephemeral: boolean;
}

export interface TestUser {
  id: string;
  name: string;
  admin?: boolean;
}

export interface Harness {
  replies: Reply[];
  surfaces: FakeSurface[];
  /** Runs `/name sub` with options as the given user, in the given channel. */
  run(user: TestUser, name: string, sub: string | undefined, options?: Record<string, unknown>, where?: Partial<Invocation>): Promise<void>;
  lastReply(): string;
}

export function createHarness(core: Core, defaults: { history?: HistoryMessage[] } = {}): Harness {
  const replies: Reply[] = [];
  const surfaces: FakeSurface[] = [];
  return {
    replies,
    surfaces,
    async run(user, name, sub, options = {}, where = {}) {
      const found = findCommand(core.commands, name, sub);
      if (!found) throw new Error(`no command /${name} ${sub ?? ''}`);
      const invocation: Invocation = {
        platform: 'test',
        workspaceId: 'w1',
        channelId: 'c1',
        conversationKey: `test:c1:${user.id}`,
        user: { id: user.id, name: user.name },
        isPlatformAdmin: async () => user.admin === true,
        async reply(text, opts) {
          replies.push({ text, ephemeral: opts?.ephemeral === true });
        },
        async answerSurface() {
          const fake = createFakeSurface({
            maxMessageLength: 2000,
            rateLimit: { count: 50, windowMs: 1000 },
            budgetKey: `test:${where.channelId ?? 'c1'}`,
            clock: systemClock,
          });
          surfaces.push(fake);
          return fake.surface;
        },
        history: async () => defaults.history ?? [],
        lookupUser: async (id) => (id.startsWith('u') ? { id, name: `User ${id}` } : undefined),
        ...where,
      };
      await runCommand(core, found.command, found.subName, options, invocation);
    },
    lastReply() {
      const last = replies.at(-1);
      if (!last) throw new Error('no reply yet');
      return last.text;
    },
  };
}
