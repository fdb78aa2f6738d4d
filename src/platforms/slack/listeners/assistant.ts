/**
 * The assistant view's thread events: a thread opened (greeting, suggested
 * prompts) and the user looking at another channel (its settings apply from
 * the next question). Messages in those threads arrive as DMs (events.ts).
 */
import type { App } from '@slack/bolt';
import type { AssistantThreadEvent } from '../assistant.ts';
import type { SlackDeps } from '../deps.ts';

interface ThreadEventBody {
  event_id?: string;
}

export function register(app: App, deps: SlackDeps): void {
  app.event('assistant_thread_started', async ({ event, body }) => {
    const thread = (event as unknown as { assistant_thread: AssistantThreadEvent }).assistant_thread;
    deps.track('assistant_thread_started', async () => {
      if (await claimed(deps, body)) await deps.assistant().started(thread);
    });
  });
  app.event('assistant_thread_context_changed', async ({ event }) => {
    const thread = (event as unknown as { assistant_thread: AssistantThreadEvent }).assistant_thread;
    // The latest context wins: a re-delivered change writes the same row again.
    deps.track('assistant_thread_context_changed', () => deps.assistant().contextChanged(thread));
  });
}

/** A re-delivered thread start must not greet twice (across processes too). */
async function claimed(deps: SlackDeps, body: ThreadEventBody): Promise<boolean> {
  if (!body.event_id) return true;
  return deps.host.claimEvents([`slack:event:${body.event_id}`]);
}
