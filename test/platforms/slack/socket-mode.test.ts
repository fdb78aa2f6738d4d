import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, CHANNEL, startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('Slack in Socket Mode (real Bolt, fake WebSocket)', () => {
  it('connects with the app token, acks envelopes and serves a command and a mention', async () => {
    h = await startHarness({ mode: 'socket' });
    await h.fake.waitForSocket();
    expect(h.adapter.connected()).toBe(true);
    expect(h.adapter.address()).toBeUndefined();
    expect(h.fake.callsOf('apps.connections.open')).toHaveLength(1);

    h.app.openrouter.enqueue({ text: ['Over the socket.'] }, { text: ['Threaded over the socket.'] });
    const command = await h.fake.slashCommand({ command: '/ask', text: 'socket?', user: ALICE, channel: CHANNEL });
    expect(command.status).toBe(200);
    await h.adapter.idle();
    expect(h.fake.visibleText(h.fake.botMessages(CHANNEL)[0]!)).toContain('Over the socket.');

    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> and a thread?' });
    await h.adapter.idle();
    expect(h.fake.botMessages(CHANNEL, mention.ts).map((m) => m.text)).toEqual(['Threaded over the socket.']);
    expect(h.fake.acks).toHaveLength(2);
    expect(h.fake.violations).toEqual([]);

    // stop() waits for the socket client's `disconnected` before the fake closes.
    await h.adapter.stop();
    expect(h.adapter.connected()).toBe(false);
  });
});
