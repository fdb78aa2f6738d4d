/**
 * Slack's AI app split view through the real Bolt app: a thread opens
 * (greeting, suggested prompts), a question is answered without a mention
 * (title from it, "is thinking…" then cleared, a streamed answer with 👍/👎),
 * the viewed channel's settings answer it and a line says so, and without a
 * channel in view the DM settings apply. The context lives in the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { extendFakeSlack, type NativeSlack } from '../../fakes/slack-native.ts';
import { ALICE, CHANNEL, DM_CHANNEL, startHarness, type Harness } from '../slack/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const CHANNEL_MODEL = 'anthropic/claude-3.5-sonnet';

async function start(env: Record<string, string> = {}): Promise<{ h: Harness; native: NativeSlack }> {
  h = await startHarness({ env });
  const native = extendFakeSlack(h.fake);
  await h.app.core.store.setSetting({ platform: 'slack', kind: 'channel', id: `${h.fake.teamId}/${CHANNEL}` }, 'model', CHANNEL_MODEL);
  await h.app.core.store.setSetting({ platform: 'slack', kind: 'channel', id: `${h.fake.teamId}/${CHANNEL}` }, 'systemPrompt', 'You are the #general helper.');
  return { h, native };
}

describe('Slack assistant threads', () => {
  it('runs a full round: started -> prompts -> question -> title, statuses, streamed answer in the viewed channel’s settings, feedback', async () => {
    const { h, native } = await start({ SLACK_SUGGESTED_PROMPTS: 'Summarise our release notes | What is new in the API?' });
    const { threadTs } = await native.threadStarted({ user: ALICE, channel: DM_CHANNEL, context: { channelId: CHANNEL } });
    await h.adapter.idle();
    const [greeting] = h.fake.botMessages(DM_CHANNEL, threadTs).filter((m) => m.ts !== threadTs);
    expect(greeting!.text).toContain(`<#${CHANNEL}>`);
    expect(greeting!.text).toContain(CHANNEL_MODEL);
    expect(native.prompts).toEqual([
      {
        channel: DM_CHANNEL,
        threadTs,
        title: 'Try one of these:',
        prompts: [
          { title: 'Summarise our release notes', message: 'Summarise our release notes' },
          { title: 'What is new in the API?', message: 'What is new in the API?' },
        ],
      },
    ]);
    expect(await h.app.core.store.assistantThread('slack', DM_CHANNEL, threadTs)).toMatchObject({ contextChannelId: CHANNEL, contextTeamId: h.fake.teamId, titled: false });

    h.app.openrouter.enqueue({ text: ['Two ', 'plus two ', 'is four.'], chunkDelayMs: 10 });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'What is 2+2?', threadTs });
    await h.adapter.idle();
    expect(native.titles).toEqual([{ channel: DM_CHANNEL, threadTs, title: 'What is 2+2?' }]);
    expect(h.fake.statuses.map((s) => s.status)).toEqual(['is thinking…', '']);
    const request = h.app.openrouter.chatRequests()[0]!.body!;
    expect(request.model).toBe(CHANNEL_MODEL);
    expect(request.messages[0]).toMatchObject({ role: 'system', content: expect.stringContaining('You are the #general helper.') });
    const thread = h.fake.botMessages(DM_CHANNEL, threadTs);
    const provenance = thread.find((m) => m.text.startsWith('⚙️'))!;
    expect(provenance.text).toContain(`<#${CHANNEL}>`);
    expect(provenance.text).toContain(`\`${CHANNEL_MODEL}\` (set for that channel)`);
    const answer = thread.find((m) => m.origin === 'stream')!;
    expect(answer.text).toBe('Two plus two is four.');
    expect(answer.streaming).toBe(false);
    const [row] = await h.app.core.store.ledger({ platform: 'slack' });
    // Quotas and the ledger count in the viewed channel's workspace, not the DM pseudo-workspace.
    expect(row).toMatchObject({ workspaceId: h.fake.teamId, channelId: DM_CHANNEL, userId: ALICE, modelRequested: CHANNEL_MODEL });

    const feedback = answer.blocks!.find((b) => b.block_id === 'switchboard_feedback')!.elements!;
    await h.fake.clickButton({ user: ALICE, channel: DM_CHANNEL, messageTs: answer.ts, actionId: String(feedback[0]!.action_id), value: String(feedback[0]!.value), threadTs });
    await h.adapter.idle();
    const window = { platform: 'slack', workspaceId: h.fake.teamId, from: new Date(0), to: new Date(Date.now() + 40 * 86_400_000) };
    expect(await h.app.core.store.satisfaction(window)).toEqual([{ model: CHANNEL_MODEL, up: 1, down: 0 }]);

    // A follow-up: the thread is the conversation; no second title, no repeated provenance line.
    h.app.openrouter.enqueue({ text: ['Eight.'] });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'And doubled?', threadTs });
    await h.adapter.idle();
    expect(native.titles).toHaveLength(1);
    expect(h.fake.botMessages(DM_CHANNEL, threadTs).filter((m) => m.text.startsWith('⚙️'))).toHaveLength(1);
    const followUp = h.app.openrouter.chatRequests()[1]!.body!.messages;
    expect(followUp.slice(1).map((m) => m.content)).toEqual(['What is 2+2?', 'Two plus two is four.', 'And doubled?']);
    expect(h.fake.violations).toEqual([]);
  });

  it('follows the viewed channel as it changes, and without one applies the DM scope (and says so)', async () => {
    const { h, native } = await start();
    const { threadTs } = await native.threadStarted({ user: ALICE, channel: DM_CHANNEL });
    await h.adapter.idle();
    expect(h.fake.botMessages(DM_CHANNEL, threadTs).find((m) => m.text.startsWith('Hi!'))!.text).toContain('settings for direct messages apply');

    h.app.openrouter.enqueue({ text: ['Default model here.'] });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'Which model?', threadTs });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()[0]!.body!.model).toBe('openai/gpt-4o-mini');
    expect((await h.app.core.store.ledger({ platform: 'slack' }))[0]).toMatchObject({ workspaceId: '@me' });

    await native.contextChanged({ user: ALICE, channel: DM_CHANNEL, threadTs, context: { channelId: CHANNEL } });
    await h.adapter.idle();
    // Kept in the store: any process answering the next message knows it.
    expect(await h.app.core.store.assistantThread('slack', DM_CHANNEL, threadTs)).toMatchObject({ contextChannelId: CHANNEL, titled: true });
    h.app.openrouter.enqueue({ text: ['Sonnet here.'] });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'And now?', threadTs });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()[1]!.body!.model).toBe(CHANNEL_MODEL);
    const lines = h.fake.botMessages(DM_CHANNEL, threadTs).filter((m) => m.text.startsWith('⚙️')).map((m) => m.text);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('No channel in view');
    expect(lines[1]).toContain(`<#${CHANNEL}>`);
    expect(h.fake.violations).toEqual([]);
  });

  it('without ALLOW_DMS, a thread with no channel in view is refused like a DM, and one with a channel is answered', async () => {
    const { h, native } = await start({ ALLOW_DMS: 'false' });
    const { threadTs } = await native.threadStarted({ user: ALICE, channel: DM_CHANNEL });
    await h.adapter.idle();
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'hello?', threadTs });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(0);
    expect(h.fake.ephemerals.at(-1)!.text).toContain('Direct messages to this bot are turned off');
    await native.contextChanged({ user: ALICE, channel: DM_CHANNEL, threadTs, context: { channelId: CHANNEL } });
    h.app.openrouter.enqueue({ text: ['Hello from #general.'] });
    await h.fake.dm({ user: ALICE, channel: DM_CHANNEL, text: 'hello again', threadTs });
    await h.adapter.idle();
    expect(h.app.openrouter.chatRequests()).toHaveLength(1);
  });
});
