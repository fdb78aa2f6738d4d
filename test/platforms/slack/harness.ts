/**
 * The real Bolt app (through createSlackAdapter) against the fake Slack, with
 * a real core against the fake OpenRouter. Time runs on a fast clock shared
 * by the core, the adapter and the fake's rate rules, so Slack's one update a
 * second costs 50 ms of real time.
 */
import { systemClock, type Clock } from '../../../src/core/types.ts';
import { createSlackAdapter, type SlackAdapter } from '../../../src/platforms/slack/adapter.ts';
import { startFakeSlack, type FakeSlack } from '../../fakes/slack.ts';
import { startTestApp, type TestApp } from '../../helpers/test-app.ts';
import { waitFor as poll, type Check } from '../../helpers/wait.ts';

/** Virtual time running `factor` times faster than the wall clock. */
export function fastClock(factor = 20): Clock {
  const realStart = Date.now();
  return {
    now: () => realStart + (Date.now() - realStart) * factor,
    // Timers can fire a millisecond early; the pad keeps virtual waits at least as long as asked.
    sleep: (ms, signal) => systemClock.sleep(Math.max(0, ms) / factor + 2, signal),
  };
}

export interface Harness {
  fake: FakeSlack;
  app: TestApp;
  adapter: SlackAdapter;
  clock: Clock;
  close(): Promise<void>;
}

export const CHANNEL = 'C0GENERAL';
export const DM_CHANNEL = 'D0ALICE';
export const ALICE = 'U0ALICE';
export const BOB = 'U0BOB';
export const WORKSPACE_ADMIN = 'U0ADMIN';
export const LISTED_ADMIN = 'U0LISTED';

export async function startHarness(options: { mode?: 'http' | 'socket'; env?: Record<string, string> } = {}): Promise<Harness> {
  const clock = fastClock();
  const fake = await startFakeSlack({ now: () => clock.now() });
  fake.addUser({ id: ALICE, name: 'alice', realName: 'Alice Archer', displayName: 'Alice' });
  fake.addUser({ id: BOB, name: 'bob', realName: 'Bob Baker', displayName: 'Bob' });
  fake.addUser({ id: WORKSPACE_ADMIN, name: 'wanda', realName: 'Wanda Admin', isAdmin: true });
  fake.addUser({ id: LISTED_ADMIN, name: 'lee', realName: 'Lee Listed' });
  const socket = options.mode === 'socket';
  const app = await startTestApp({
    clock,
    env: {
      SLACK_BOT_TOKEN: fake.botToken,
      ...(socket ? { SLACK_APP_TOKEN: fake.appToken } : { SLACK_SIGNING_SECRET: fake.signingSecret }),
      SLACK_API_URL: fake.apiUrl,
      ADMIN_USER_IDS: `slack:${LISTED_ADMIN}`,
      ALLOW_DMS: 'true',
      ...options.env,
    },
  });
  const adapter = createSlackAdapter(app.config.slack!, app.core.host, {
    clock,
    port: 0,
    host: '127.0.0.1',
    processBeforeResponse: true,
    retryConfig: { retries: 0 },
  });
  try {
    await adapter.start();
  } catch (error) {
    await app.close();
    await fake.close();
    throw error;
  }
  if (!socket) fake.receiverUrl = `http://127.0.0.1:${adapter.address()!.port}/slack/events`;
  return {
    fake,
    app,
    adapter,
    clock,
    async close() {
      await adapter.stop();
      await app.close();
      await fake.close();
    },
  };
}

/** Polls (real time, every 10 ms) until `check` returns a truthy value. */
export function waitFor<T>(check: Check<T>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  return poll(check, what, timeoutMs, 10);
}
