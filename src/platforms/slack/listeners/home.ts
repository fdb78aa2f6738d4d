/** The App Home tab: rebuilt each time someone opens it (home/publisher.ts). */
import type { App } from '@slack/bolt';
import type { SlackDeps } from '../deps.ts';
import { HomePublisher } from '../home/publisher.ts';

export function register(app: App, deps: SlackDeps): void {
  const publisher = new HomePublisher(deps);
  app.event('app_home_opened', async ({ event, body }) => {
    if (event.tab !== 'home') return;
    const teamId = (body as { team_id?: string }).team_id ?? deps.bot()?.teamId ?? 'unknown';
    deps.track('app_home_opened', () => publisher.opened(event.user, teamId));
  });
}
