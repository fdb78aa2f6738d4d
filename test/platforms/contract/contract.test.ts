/**
 * The platform contract: the same behaviours, written once, run against the
 * Discord adapter, the Slack (Bolt) adapter and the terminal chat through
 * their drivers (drivers.ts). A platform passes only if it keeps every one.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { drivers, type PlatformDriver } from './drivers.ts';

const MODEL = 'openai/gpt-4o-mini';

describe.each(drivers)('platform contract: $name', ({ create }) => {
  const driver: PlatformDriver = create();

  beforeAll(async () => {
    await driver.start();
  });
  afterAll(async () => {
    await driver.close();
  });
  beforeEach(() => {
    driver.reset();
  });
  afterEach(() => {
    expect(driver.violations()).toEqual([]);
  });

  it('1. answers a message addressed to it with the model text, streamed, ending with a footer naming the model; one request upstream', async () => {
    // The rest of the answer waits until the platform has shown its first piece: an adapter that
    // showed nothing before the end would never see the rest (and `shown` would give undefined).
    const midAnswer = driver.shown('Streams arrive');
    driver.openrouter.enqueue({ text: ['Streams arrive ', 'in several ', 'pieces.'], chunkDelayMs: 5, restWaitsFor: midAnswer });
    await driver.ask('how do streams work?');

    const partial = await midAnswer;
    expect(partial, 'the answer was shown while it was still coming').toBeDefined();
    expect(partial).not.toContain('pieces.');
    expect(driver.answerTexts().join('\n')).toBe('Streams arrive in several pieces.');
    expect(driver.footer()).toContain(MODEL);
    expect(driver.requestCount()).toBe(1);
    expect(driver.lastRequestMessages().at(-1)).toMatchObject({ role: 'user', content: expect.stringContaining('how do streams work?') });
  });

  it('2. never lets model output ping anyone: @everyone, @here and <!channel> reach no one', async () => {
    driver.openrouter.enqueue({ text: ['Attention @everyone ', 'and @here, ', 'also <!chan', 'nel> and <!here>!'], chunkDelayMs: 5 });
    await driver.ask('ping everybody please');

    const shown = driver.answerTexts().join('\n');
    // Still shown (as harmless text), just not as a notification.
    expect(shown).toMatch(/everyone/);
    expect(shown).toMatch(/here/);
    expect(driver.pingProblems()).toEqual([]);
  });

  it("3. a follow-up in the same conversation sends the earlier question and the earlier answer's exact text, never the footer or a status line", async () => {
    const earlier = 'The capital is **Paris**.\n\nIt has been since 987.';
    driver.openrouter.enqueue({ text: ['The capital is ', '**Paris**.\n\n', 'It has been since 987.'], chunkDelayMs: 5 }, { text: ['Rome.'] });
    await driver.ask('what is the capital of France?');
    expect(driver.footer()).toContain(MODEL);

    await driver.askInSameConversation('and of Italy?');
    expect(driver.answerTexts().join('\n')).toBe('Rome.');
    expect(driver.requestCount()).toBe(2);
    const messages = driver.lastRequestMessages();
    expect(messages[0]!.role).toBe('system');
    expect(messages.slice(1)).toEqual([
      { role: 'user', content: 'what is the capital of France?' },
      { role: 'assistant', content: earlier },
      { role: 'user', content: 'and of Italy?' },
    ]);
    const sent = JSON.stringify(messages.slice(1));
    for (const ours of [MODEL, ' in / ', '…thinking', 'Thinking…', 'is thinking', '▍', '⚠️', '⏹️']) expect(sent).not.toContain(ours);
  });

  it('4. /new then a follow-up in that conversation sends no earlier messages, and /new says what it reset', async () => {
    await driver.ask('remember the word banana');
    const reset = await driver.command('new');
    expect(reset.private).toBe(true);
    expect(reset.text).toMatch(/Starting afresh in this (channel|thread|conversation|terminal chat)\b.*earlier messages/i);

    await driver.askInSameConversation('what was the word?');
    expect(driver.requestCount()).toBe(2);
    const messages = driver.lastRequestMessages();
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(messages[1]!.content).toBe('what was the word?');
    expect(JSON.stringify(messages)).not.toContain('banana');
  });

  if (driver.fromBots) {
    it('5. never answers a message from another bot, or from itself', async () => {
      await driver.fromBots!('answer me, fellow bot');
      await driver.ask('and me?');
      expect(driver.requestCount()).toBe(1);
      expect(driver.lastRequestMessages().slice(1)).toEqual([{ role: 'user', content: 'and me?' }]);
      expect(driver.repliesToBots!()).toEqual([]);
    });
  } else {
    // The terminal has no notion of bots: every line comes from the one person at the keyboard,
    // so there is no bot message to ignore. The case is reported as skipped, not left out.
    it.skip('5. never answers a message from another bot, or from itself (the terminal has no bots)', () => undefined);
  }

  it('6a. a malformed command gets a clear private reply, and the bot keeps working', async () => {
    // `period` only goes with `top`: valid option types, invalid combination.
    const reply = await driver.command('usage', undefined, { period: 'day' });
    expect(reply, reply.note).toMatchObject({ private: true, text: expect.stringMatching(/`period` goes with `top`/) });
    expect(driver.requestCount()).toBe(0);

    await driver.ask('still there?');
    expect(driver.answerTexts().join('\n')).toBe('You said: still there?');
  });

  it('6b. an unknown command gets a clear private reply, never a crash, and the bot keeps working', async () => {
    const reply = await driver.unknownCommand('legacy');
    expect(reply, reply.note).toMatchObject({ private: true, text: expect.stringMatching(/(don't know|unknown command).*`\/legacy`/i) });
    expect(driver.requestCount()).toBe(0);

    await driver.ask('still there?');
    expect(driver.answerTexts().join('\n')).toBe('You said: still there?');
  });
});
