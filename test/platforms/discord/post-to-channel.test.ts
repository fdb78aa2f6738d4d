import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

describe('Discord: plain posts from the core (budget alerts)', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('posts to a channel without pinging anyone', async () => {
    h = await startHarness();
    const general = h.fake.channels.general.id;
    await h.adapter.postToChannel!(general, 'Budget alert for @everyone: 80 % of this month is spent.');
    const [message] = h.fake.botMessages(general);
    expect(message?.content).toBe('Budget alert for @everyone: 80 % of this month is spent.');
    expect(h.fake.violations).toEqual([]);
    const post = h.fake.requests.find((r) => r.method === 'POST' && r.path === `/channels/${general}/messages`);
    expect(post?.body).toMatchObject({ allowed_mentions: { parse: [] } });
  });
});
