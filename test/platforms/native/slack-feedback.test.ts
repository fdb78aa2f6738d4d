/** 👍/👎 under Slack answers: one vote per person per answer (changeable), and satisfaction per model in /usage top. */
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, BOB, CHANNEL, LISTED_ADMIN, startHarness, type Harness } from '../slack/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('Slack answer feedback', () => {
  it('stores one vote per person per answer, lets them change it, and /usage top shows satisfaction per model', async () => {
    h = await startHarness();
    h.app.openrouter.enqueue({ text: ['Forty-two.'] });
    const mention = await h.fake.mention({ user: ALICE, channel: CHANNEL, text: '<@U0BOT> meaning of life?' });
    await h.adapter.idle();
    const answer = h.fake.botMessages(CHANNEL, mention.ts).find((m) => m.origin === 'stream')!;
    const buttons = answer.blocks!.find((b) => b.block_id === 'switchboard_feedback')!.elements!;
    expect(buttons.map((b) => b.action_id)).toEqual(['switchboard_feedback_up', 'switchboard_feedback_down']);
    const requestId = String(buttons[0]!.value);
    const [row] = await h.app.core.store.ledger({ platform: 'slack' });
    expect(row!.requestId).toBe(requestId);

    const press = async (user: string, actionId: string) => {
      await h!.fake.clickButton({ user, channel: CHANNEL, messageTs: answer.ts, actionId, value: requestId, threadTs: mention.ts });
      await h!.adapter.idle();
    };
    await press(ALICE, 'switchboard_feedback_up');
    await press(ALICE, 'switchboard_feedback_down');
    await press(BOB, 'switchboard_feedback_up');
    await press(BOB, 'switchboard_feedback_up');
    expect(h.fake.ephemerals.filter((e) => e.text.startsWith('Thanks'))).toHaveLength(4);
    const month = { platform: 'slack', workspaceId: h.fake.teamId, from: new Date(0), to: new Date(Date.now() + 86_400_000 * 40) };
    expect(await h.app.core.store.satisfaction(month)).toEqual([{ model: 'openai/gpt-4o-mini', up: 1, down: 1 }]);

    await h.fake.slashCommand({ command: '/usage', text: 'top', user: LISTED_ADMIN, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)!.text).toContain('`openai/gpt-4o-mini`: 50% satisfied · 👍 1 · 👎 1');
    expect(h.fake.violations).toEqual([]);
  });
});
