/** SLACK_COMMAND_PREFIX end to end: the real Bolt app answers /sb-ask, and /ask is not its command any more. */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.ts';
import { ALICE, CHANNEL, startHarness, type Harness } from '../slack/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('Slack command prefix', () => {
  it('answers /sb-ask and /sb-usage; an unprefixed /ask gets a clear private answer naming /sb-ask', async () => {
    h = await startHarness({ env: { SLACK_COMMAND_PREFIX: 'sb-' } });
    h.app.openrouter.enqueue({ text: ['Paris.'] });
    const response = await h.fake.slashCommand({ command: '/sb-ask', text: 'Capital of France?', user: ALICE, channel: CHANNEL });
    expect(response.status).toBe(200);
    await h.adapter.idle();
    const [answer] = h.fake.botMessages(CHANNEL);
    expect(h.fake.visibleText(answer!)).toContain('Paris.');
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);

    await h.fake.slashCommand({ command: '/sb-usage', text: '', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)?.text).toContain('Your usage');

    await h.fake.slashCommand({ command: '/ask', text: 'Capital of Spain?', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.ephemerals.at(-1)?.text).toContain('`/sb-ask`');
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
    expect(h.fake.violations).toEqual([]);
  });

  it('/sb-ask --private answers with one ephemeral message to the asker, nothing in the channel', async () => {
    h = await startHarness({ env: { SLACK_COMMAND_PREFIX: 'sb-' } });
    h.app.openrouter.enqueue({ text: ['Only ', 'for you.'], chunkDelayMs: 20 });
    await h.fake.slashCommand({ command: '/sb-ask', text: '--private what is my secret?', user: ALICE, channel: CHANNEL });
    await h.adapter.idle();
    expect(h.fake.botMessages(CHANNEL)).toEqual([]);
    const sent = h.fake.callsOf('chat.postEphemeral');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.args).toMatchObject({ channel: CHANNEL, user: ALICE });
    expect(JSON.stringify(sent[0]!.args.blocks)).toContain('Only for you.');
    expect(h.app.openrouter.chatRequests()[0]!.body!.messages.at(-1)).toMatchObject({ role: 'user', content: 'what is my secret?' });
    expect(h.fake.violations).toEqual([]);
  });

  it('refuses a prefix Slack would not take, naming the variable', () => {
    expect(() => parseConfig({ OPENROUTER_API_KEY: 'sk-or-test-key', SLACK_COMMAND_PREFIX: 'Sb/' })).toThrow(/SLACK_COMMAND_PREFIX must be up to 16 lowercase/);
    expect(() => parseConfig({ OPENROUTER_API_KEY: 'sk-or-test-key', SLACK_SUGGESTED_PROMPTS: 'a|b|c|d|e' })).toThrow(/SLACK_SUGGESTED_PROMPTS may list at most 4/);
  });
});
