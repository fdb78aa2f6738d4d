import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateBudget } from '../../src/core/rate-budget.ts';
import { createRenderer, type Renderer, type RendererOptions } from '../../src/core/renderer.ts';
import { openFenceAtEnd } from '../../src/core/split.ts';
import { createFakeClock, type FakeClock } from '../fakes/fake-clock.ts';
import { createFakeSurface, fakeFormat, foot, line, type FakeSurface, type FakeSurfaceOptions } from '../fakes/fake-surface.ts';

const DISCORD = { maxMessageLength: 2000, rateLimit: { count: 5, windowMs: 5000 } };
const STOP = { id: 'stop' as const, label: 'Stop' };

interface Setup {
  clock: FakeClock;
  fake: FakeSurface;
  budget: RateBudget;
  renderer: (options?: Partial<RendererOptions>) => Renderer;
}

function setup(options: Partial<Omit<FakeSurfaceOptions, 'clock'>> = {}): Setup {
  const clock = createFakeClock();
  const fake = createFakeSurface({ ...DISCORD, format: fakeFormat, ...options, clock });
  const budget = new RateBudget(clock);
  return {
    clock,
    fake,
    budget,
    renderer: (extra = {}) => createRenderer({ surface: fake.surface, budget, clock, ...extra }),
  };
}

/** Appends `text` in deltas of `size` characters, `gapMs` apart. */
async function stream(clock: FakeClock, renderer: Renderer, text: string, size: number, gapMs: number): Promise<void> {
  for (let i = 0; i < text.length; i += size) {
    renderer.append(text.slice(i, i + size));
    await clock.advance(gapMs);
  }
}

/** Undoes the fence pairs a split added between consecutive messages. */
function contents(messages: string[]): string[] {
  const out = [...messages];
  for (let i = 0; i < out.length - 1; i++) {
    const whole = messages[i]!;
    const newline = whole.lastIndexOf('\n');
    if (newline === -1) continue;
    const open = openFenceAtEnd(whole.slice(0, newline));
    const reopen = open ? `${open.marker}${open.info}\n` : '';
    if (open && whole.slice(newline + 1) === open.marker && out[i + 1]!.startsWith(reopen)) {
      out[i] = out[i]!.slice(0, out[i]!.lastIndexOf('\n'));
      out[i + 1] = out[i + 1]!.slice(reopen.length);
    }
  }
  return out;
}

/** The messages hold `original` in order: nothing lost or duplicated, only whitespace dropped at the cuts. */
function expectSameText(messages: string[], original: string): void {
  let position = 0;
  for (const content of contents(messages)) {
    let skip = 0;
    while (!original.startsWith(content, position + skip) && /\s/.test(original[position + skip] ?? '')) skip++;
    const where = `${JSON.stringify(content)} not found at ${position} of ${JSON.stringify(original)}`;
    expect(original.startsWith(content, position + skip), where).toBe(true);
    position += skip + content.length;
  }
  expect(original.slice(position).trim()).toBe('');
}

function longAnswer(): string {
  const blocks: string[] = [];
  for (let i = 0; blocks.join('\n\n').length < 9000; i++) {
    if (i % 3 === 2) {
      const lang = i % 2 === 0 ? 'ts' : 'python';
      const lines = Array.from({ length: 12 + (i % 5) * 4 }, (_, j) => `  value_${i}_${j} = compute(${j}, "${'x'.repeat(j % 7)}")`);
      blocks.push(`\`\`\`${lang}\n${lines.join('\n')}\n\`\`\``);
    } else {
      const words = Array.from({ length: 40 + (i % 4) * 25 }, (_, j) => (j % 11 === 0 ? 'émoji😀' : `word${j}`));
      blocks.push(`Paragraph ${i}: ${words.join(' ')}.`);
    }
  }
  return blocks.join('\n\n');
}

describe('renderer: post/edit path', () => {
  it('posts the placeholder, then shows the first text with no extra wait', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    expect(fake.texts()).toEqual(['…thinking']);
    r.append('Hello');
    await clock.settle();
    expect(clock.now()).toBe(0);
    expect(fake.texts()).toEqual(['Hello ▍']);
    const result = await clock.runUntil(r.finish(foot('-# footer')));
    expect(fake.texts()).toEqual(['Hello\n\n-# footer']);
    expect(result).toMatchObject({ delivered: true, posts: 1, messageIds: ['m1'] });
  });

  it('keeps edits within the budget and coalesces a fast stream', async () => {
    const { clock, fake, renderer } = setup({ latencyMs: 40 });
    const r = renderer();
    const text = Array.from({ length: 500 }, (_, i) => `w${i % 10} `).join('');
    await clock.runUntil(r.start());
    await stream(clock, r, text, 3, 10); // 500 deltas over 5 s
    const result = await clock.runUntil(r.finish(foot('footer')));
    expect(fake.violations).toEqual([]);
    expect(result.delivered).toBe(true);
    expect(result.edits).toBeGreaterThan(3);
    expect(result.edits).toBeLessThan(15);
    expect(fake.texts()).toEqual([`${text.trimEnd()}\n\nfooter`]);
    // Every intermediate edit showed a prefix of the answer (latest text wins, nothing reordered).
    const edits = fake.calls.filter((c) => c.kind === 'edit' && c.outcome === 'ok');
    let previous = 0;
    for (const edit of edits.slice(0, -1)) {
      const shown = edit.text.replace(/ ▍$/, '');
      expect(shown).not.toBe(edit.text);
      expect(text.startsWith(shown)).toBe(true);
      expect(shown.length).toBeGreaterThanOrEqual(previous);
      previous = shown.length;
    }
    expect(fake.maxInFlightPerMessage()).toBe(1);
  });

  it('spreads progress edits out instead of bursting the whole window', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    await stream(clock, r, 'x '.repeat(300), 2, 10);
    const times = fake.calls.filter((c) => c.kind === 'edit').map((c) => c.at);
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
    await clock.runUntil(r.finish(null));
    expect(fake.violations).toEqual([]);
  });

  it('two renderers in one channel share one budget', async () => {
    const { clock, fake, renderer } = setup({ latencyMs: 20 });
    const a = renderer();
    const b = renderer();
    const textA = 'alpha '.repeat(200);
    const textB = 'beta '.repeat(240);
    await clock.runUntil(Promise.all([a.start(), b.start()]));
    await clock.runUntil(Promise.all([stream(clock, a, textA, 3, 10), stream(clock, b, textB, 3, 10)]));
    const [ra, rb] = await clock.runUntil(Promise.all([a.finish(foot('A')), b.finish(foot('B'))]));
    expect(fake.violations).toEqual([]);
    expect(ra.delivered && rb.delivered).toBe(true);
    expect(fake.message(ra.messageIds[0]!).text).toBe(`${textA.trimEnd()}\n\nA`);
    expect(fake.message(rb.messageIds[0]!).text).toBe(`${textB.trimEnd()}\n\nB`);
    expect(ra.edits).toBeGreaterThan(1);
    expect(rb.edits).toBeGreaterThan(1);
  });

  it('splits a long answer with code blocks into messages within the limit, footer on the last only', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer({ actions: [STOP] });
    const text = longAnswer();
    expect(text.length).toBeGreaterThan(9000);
    await clock.runUntil(r.start());
    await stream(clock, r, text, 7, 5);
    const result = await clock.runUntil(r.finish(foot('-# model · 123 tokens')));
    expect(fake.violations).toEqual([]);
    expect(result.delivered).toBe(true);
    const texts = fake.texts();
    expect(texts.length).toBeGreaterThanOrEqual(5);
    expect(result.messageIds).toHaveLength(texts.length);
    texts.forEach((message, i) => {
      expect(message.length).toBeLessThanOrEqual(2000);
      expect(openFenceAtEnd(message)).toBeNull();
      expect(message.includes('-# model · 123 tokens')).toBe(i === texts.length - 1);
      expect(message.includes('▍')).toBe(false);
    });
    expect(texts.at(-1)!.endsWith('\n\n-# model · 123 tokens')).toBe(true);
    const withoutFooter = [...texts.slice(0, -1), texts.at(-1)!.slice(0, -'\n\n-# model · 123 tokens'.length)];
    expectSameText(withoutFooter, text);
    // A code block cut in two is closed and reopened with its language.
    expect(texts.some((m, i) => i > 0 && /^```(ts|python)\n/.test(m))).toBe(true);
    // Actions gone from every message at the end.
    for (const message of fake.messages()) expect(message.actions).toEqual([]);
  });

  it('shows actions while streaming, moves them to the newest message, removes them at the end', async () => {
    const { clock, fake, renderer } = setup({ maxMessageLength: 300 });
    const r = renderer({ actions: [STOP] });
    await clock.runUntil(r.start());
    expect(fake.message('m1').actions).toEqual([STOP]);
    r.append('word '.repeat(50));
    await clock.advance(2000);
    expect(fake.message('m1').actions).toEqual([STOP]);
    r.append('more '.repeat(40));
    await clock.advance(5000);
    expect(fake.messages()).toHaveLength(2);
    expect(fake.message('m1').actions).toEqual([]);
    expect(fake.message('m2').actions).toEqual([STOP]);
    await clock.runUntil(r.finish(foot('done')));
    expect(fake.messages().map((m) => m.actions)).toEqual([[], []]);
    expect(fake.violations).toEqual([]);
  });

  it('waits out a 429 on an edit and still delivers everything', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    r.append('first ');
    await clock.settle();
    fake.rateLimitNext(1, 3000);
    r.append('second');
    await clock.advance(1500);
    const limited = fake.calls.find((c) => c.outcome === 'rate-limited');
    expect(limited).toBeDefined();
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(true);
    expect(fake.texts()).toEqual(['first second\n\nf']);
    const after = fake.calls.filter((c) => c.startedAt > limited!.at);
    expect(after.every((c) => c.startedAt >= limited!.at + 3000)).toBe(true);
    expect(fake.violations).toEqual([]);
  });

  it('retries a transient edit failure with backoff', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    fake.failNextEdits(2);
    r.append('Hello world');
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(true);
    expect(fake.texts()).toEqual(['Hello world\n\nf']);
    const failed = fake.calls.filter((c) => c.outcome === 'failed');
    expect(failed).toHaveLength(2);
    expect(fake.violations).toEqual([]);
  });

  it('posts the answer as a new message when a message refuses every edit', async () => {
    const { clock, fake, renderer } = setup({ failEdits: () => true });
    const r = renderer({ maxAttempts: 3 });
    await clock.runUntil(r.start());
    r.append('shown after all');
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(true);
    expect(fake.calls.filter((c) => c.kind === 'edit' && c.outcome === 'failed')).toHaveLength(3);
    expect(fake.texts()).toEqual(['…thinking', 'shown after all\n\nf']);
    expect(fake.violations).toEqual([]);
  });

  it('gives up after maxAttempts when the new message cannot be posted either, and reports the answer undelivered', async () => {
    const { clock, fake, renderer } = setup({ failEdits: () => true });
    const r = renderer({ maxAttempts: 3 });
    await clock.runUntil(r.start());
    fake.failNextPosts(10);
    r.append('never shown');
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(false);
    expect(fake.calls.filter((c) => c.kind === 'edit')).toHaveLength(3);
    expect(fake.calls.filter((c) => c.kind === 'post' && c.outcome === 'failed')).toHaveLength(3);
    expect(fake.texts()).toEqual(['…thinking']);
  });

  it('rejects start when the placeholder cannot be posted', async () => {
    const { clock, fake, renderer } = setup();
    fake.failNextPosts(10);
    const r = renderer({ maxAttempts: 2 });
    await expect(clock.runUntil(r.start())).rejects.toThrow('transient failure');
    const result = await clock.runUntil(r.fail(line('⚠️ oops')));
    expect(result.delivered).toBe(false);
    expect(fake.calls).toHaveLength(2);
  });

  it('waits out a 429 on the placeholder post', async () => {
    const { clock, fake, renderer } = setup({ rateLimitNext: { calls: 1, retryAfterMs: 2000 } });
    const r = renderer();
    await clock.runUntil(r.start());
    expect(clock.now()).toBe(2000);
    expect(fake.texts()).toEqual(['…thinking']);
    expect(fake.violations).toEqual([]);
  });

  it('stops editing and calls onGone once when the message is deleted', async () => {
    const { clock, fake, renderer } = setup();
    let goneCalls = 0;
    const r = renderer({ onGone: () => goneCalls++ });
    await clock.runUntil(r.start());
    r.append('Hello');
    await clock.advance(100);
    fake.deleteMessage('m1');
    r.append(' world');
    await clock.advance(2000);
    expect(goneCalls).toBe(1);
    expect(r.gone).toBe(true);
    const callsWhenGone = fake.calls.length;
    r.append(' more');
    r.status('🔧 tool');
    await clock.advance(5000);
    const result = await clock.runUntil(r.fail(line('⏹️ Stopped.')));
    expect(fake.calls).toHaveLength(callsWhenGone);
    expect(fake.calls.at(-1)!.outcome).toBe('gone');
    expect(result.delivered).toBe(false);
    expect(goneCalls).toBe(1);
  });

  it('deleted after some edits (deleteAfter): gone, no further calls', async () => {
    const { clock, fake, renderer } = setup({ deleteAfter: 2 });
    let goneCalls = 0;
    const r = renderer({ onGone: () => goneCalls++ });
    await clock.runUntil(r.start());
    await stream(clock, r, 'abc '.repeat(100), 4, 100);
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(goneCalls).toBe(1);
    expect(result.delivered).toBe(false);
    expect(fake.calls.filter((c) => c.outcome === 'gone')).toHaveLength(1);
    expect(fake.calls.at(-1)!.outcome).toBe('gone');
  });

  it('shows a status line under the text and clears it', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    r.status('🔧 using calculator…');
    await clock.advance(10);
    expect(fake.texts()).toEqual(['…thinking\n\n🔧 using calculator…']);
    r.status(null);
    r.append('The answer is');
    await clock.advance(10);
    expect(fake.texts()).toEqual(['The answer is ▍']);
    r.status('🔧 using search…');
    await clock.advance(1500);
    expect(fake.texts()).toEqual(['The answer is ▍\n\n🔧 using search…']);
    r.status(null);
    r.append(' 42.');
    await clock.advance(1500);
    expect(fake.texts()).toEqual(['The answer is 42. ▍']);
    await clock.runUntil(r.finish(foot('f')));
    expect(fake.texts()).toEqual(['The answer is 42.\n\nf']);
  });

  it('counts the status line and footer toward the length limit', async () => {
    const { clock, fake, renderer } = setup({ maxMessageLength: 300 });
    const r = renderer();
    await clock.runUntil(r.start());
    r.status(`🔧 ${'s'.repeat(150)}`);
    r.append('word '.repeat(40)); // 200 chars: fits alone, not with the status line
    await clock.advance(3000);
    for (const text of fake.texts()) expect(text.length).toBeLessThanOrEqual(300);
    r.status(null);
    const footer = `-# ${'f'.repeat(150)}`;
    const result = await clock.runUntil(r.finish(foot(footer)));
    expect(result.delivered).toBe(true);
    const texts = fake.texts();
    for (const text of texts) expect(text.length).toBeLessThanOrEqual(300);
    expect(texts.at(-1)!.endsWith(footer)).toBe(true);
    expect(texts.filter((t) => t.includes(footer))).toHaveLength(1);
    expect(fake.violations).toEqual([]);
  });

  it('fail keeps the partial answer and adds the error line, then the footer', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer({ actions: [STOP] });
    await clock.runUntil(r.start());
    r.append('Partial answer');
    await clock.advance(10);
    const result = await clock.runUntil(r.fail(line('⚠️ The model stopped responding.'), foot('-# footer')));
    expect(result.delivered).toBe(true);
    expect(fake.texts()).toEqual(['Partial answer\n\n⚠️ The model stopped responding.\n\n-# footer']);
    expect(fake.message('m1').actions).toEqual([]);
  });

  it('fail with no text shows just the error line', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    await clock.runUntil(r.fail(line('⚠️ Quota reached.')));
    expect(fake.texts()).toEqual(['⚠️ Quota reached.']);
  });

  it('an empty answer still replaces the placeholder', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    await clock.runUntil(r.finish(null));
    expect(fake.texts()).toEqual(['(no answer)']);
  });

  it('append before start posts the text directly; finish is idempotent', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    r.append('Straight in');
    const first = r.finish(foot('f'));
    expect(r.finish(foot('other'))).toBe(first);
    const result = await clock.runUntil(first);
    expect(result).toMatchObject({ delivered: true, posts: 1 });
    expect(fake.texts()).toEqual(['Straight in\n\nf']);
    r.append('ignored');
    await clock.advance(5000);
    expect(fake.texts()).toEqual(['Straight in\n\nf']);
  });

  it('keeps the cursor off a closing fence line', async () => {
    const { clock, fake, renderer } = setup();
    const r = renderer();
    await clock.runUntil(r.start());
    r.append('Code:\n```ts\nconst a = 1;');
    await clock.advance(10);
    expect(fake.texts()).toEqual(['Code:\n```ts\nconst a = 1;\n```\n▍']);
    await clock.runUntil(r.finish(null));
  });

  it('never has two edits in flight to one message, even with slow edits', async () => {
    const { clock, fake, renderer } = setup({ latencyMs: 1800, maxMessageLength: 400 });
    const r = renderer();
    await clock.runUntil(r.start());
    await stream(clock, r, 'slow '.repeat(300), 5, 20);
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(true);
    expect(fake.maxInFlightPerMessage()).toBe(1);
    expect(fake.violations).toEqual([]);
  });

  it('property: any stream, limit and injected trouble ends delivered, within limits, text intact', async () => {
    const delta = fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
      fc.constantFrom('\n\n', '\n', ' ', '```ts\n', '\n```\n', '😀😀', 'word '.repeat(30)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          deltas: fc.array(delta, { minLength: 1, maxLength: 120 }),
          gapMs: fc.integer({ min: 0, max: 300 }),
          maxMessageLength: fc.integer({ min: 200, max: 700 }),
          latencyMs: fc.integer({ min: 0, max: 500 }),
          failAt: fc.option(fc.integer({ min: 0, max: 30 })),
          rateLimitAt: fc.option(fc.integer({ min: 0, max: 30 })),
          status: fc.boolean(),
        }),
        async ({ deltas, gapMs, maxMessageLength, latencyMs, failAt, rateLimitAt, status }) => {
          const { clock, fake, renderer } = setup({
            maxMessageLength,
            latencyMs,
            failEdits: ({ index }) => index === failAt,
          });
          const r = renderer({ actions: [STOP] });
          await clock.runUntil(r.start());
          for (const [i, d] of deltas.entries()) {
            if (i === rateLimitAt) fake.rateLimitNext(1, 1234);
            if (status && i % 10 === 3) r.status(i % 20 === 3 ? '🔧 working…' : null);
            r.append(d);
            await clock.advance(gapMs);
          }
          const result = await clock.runUntil(r.finish(foot('-# footer')));
          const text = deltas.join('');
          expect(fake.violations).toEqual([]);
          expect(result.delivered).toBe(true);
          const texts = fake.texts();
          for (const message of texts) expect(message.length).toBeLessThanOrEqual(maxMessageLength);
          expect(texts.at(-1)!.endsWith('-# footer')).toBe(true);
          const last = texts.at(-1)!.slice(0, -'-# footer'.length).replace(/\n\n$/, '');
          if (text.trim() === '') {
            expect(texts).toEqual(['-# footer']);
            return;
          }
          // A code block still open at the end is closed by the renderer.
          // (whitespace before that added fence line may be dropped, so compare without it).
          const open = openFenceAtEnd(text);
          const bodies = [...texts.slice(0, -1), open ? last.replace(/\s*\n(`{3,6}|~{3,6})$/, '\n$1') : last];
          expectSameText(bodies, open ? `${text.trimEnd()}\n${open.marker}` : text);
          for (const message of texts) expect(openFenceAtEnd(message)).toBeNull();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('renderer: native stream path', () => {
  it('forwards deltas in order through the stream and stops it with the footer', async () => {
    const { clock, fake, renderer } = setup({ native: true, latencyMs: 30 });
    const r = renderer();
    await clock.runUntil(r.start());
    expect(fake.calls).toEqual([]);
    const text = Array.from({ length: 100 }, (_, i) => `d${i} `).join('');
    await stream(clock, r, text, 3, 10);
    const result = await clock.runUntil(r.finish(foot('-# footer')));
    expect(result.delivered).toBe(true);
    expect(fake.calls.filter((c) => c.kind === 'post' || c.kind === 'edit')).toEqual([]);
    const appends = fake.calls.filter((c) => c.kind === 'append');
    expect(appends.map((c) => c.text).join('')).toBe(text);
    expect(appends.length).toBeLessThan(Math.ceil(text.length / 3)); // coalesced while one was in flight
    expect(fake.calls.at(-1)).toMatchObject({ kind: 'stop', text: '-# footer' });
    expect(fake.texts()).toEqual([`${text}\n\n-# footer`]); // native: the platform shows what was appended
    expect(fake.violations).toEqual([]);
  });

  it('falls back to post/edit with the full text when the stream dies', async () => {
    const { clock, fake, renderer } = setup({ native: { failAppendAfter: 3 } });
    const r = renderer();
    await clock.runUntil(r.start());
    const text = 'one two three four five six seven eight nine ten';
    await stream(clock, r, text, 4, 50);
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(true);
    expect(result.messageIds).toHaveLength(1);
    expect(fake.message(result.messageIds[0]!).text).toBe(`${text}\n\nf`);
    expect(fake.violations).toEqual([]);
  });

  it('falls back when the stream cannot be opened', async () => {
    const { clock, fake, renderer } = setup({ native: { failOpen: true } });
    const r = renderer();
    await clock.runUntil(r.start());
    expect(fake.texts()).toEqual(['…thinking']);
    r.append('hi');
    await clock.runUntil(r.finish(foot('f')));
    expect(fake.texts()).toEqual(['hi\n\nf']);
  });

  it('falls back when stop fails, posting the full text with the footer', async () => {
    const { clock, fake, renderer } = setup({ native: { failStop: true } });
    const r = renderer();
    await clock.runUntil(r.start());
    r.append('streamed text');
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(result.delivered).toBe(true);
    expect(fake.message(result.messageIds[0]!).text).toBe('streamed text\n\nf');
  });

  it('fail appends the error line before stopping', async () => {
    const { clock, fake, renderer } = setup({ native: true });
    const r = renderer();
    await clock.runUntil(r.start());
    r.append('partial');
    const result = await clock.runUntil(r.fail(line('⚠️ broke'), foot('f')));
    expect(result.delivered).toBe(true);
    expect(fake.texts()).toEqual(['partial\n\n⚠️ broke\n\nf']);
  });

  it('a deleted stream message is gone: onGone once, no fallback post', async () => {
    const { clock, fake, renderer } = setup({ native: true });
    let goneCalls = 0;
    const r = renderer({ onGone: () => goneCalls++ });
    await clock.runUntil(r.start());
    r.append('a');
    await clock.advance(10);
    fake.deleteMessage(fake.messages()[0]!.id);
    r.append('b');
    await clock.advance(10);
    const result = await clock.runUntil(r.finish(foot('f')));
    expect(goneCalls).toBe(1);
    expect(r.gone).toBe(true);
    expect(result.delivered).toBe(false);
    expect(fake.calls.filter((c) => c.kind === 'post')).toEqual([]);
  });
});
