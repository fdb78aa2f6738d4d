import { describe, expect, it } from 'vitest';
import { RateBudget } from '../../src/core/rate-budget.ts';
import { createRenderer } from '../../src/core/renderer.ts';
import { THINKING_REFRESH_MS, ThinkingStatus, type ReasoningDisplay } from '../../src/core/thinking-status.ts';
import { createFakeClock } from '../fakes/fake-clock.ts';
import { createFakeSurface, foot } from '../fakes/fake-surface.ts';

function setup(display: ReasoningDisplay) {
  const clock = createFakeClock();
  const fake = createFakeSurface({ maxMessageLength: 2000, rateLimit: { count: 5, windowMs: 5000 }, clock });
  const renderer = createRenderer({ surface: fake.surface, budget: new RateBudget(clock), clock });
  const thinking = new ThinkingStatus(display, clock, (line) => renderer.status(line));
  const shown = () => fake.calls.filter((c) => c.outcome === 'ok').map((c) => c.text);
  return { clock, fake, renderer, thinking, shown };
}

describe('thinking status line', () => {
  it('shows elapsed seconds and the latest reasoning line, refreshed on the clock, and removes it when text starts', async () => {
    const { clock, renderer, thinking, shown, fake } = setup('status');
    await clock.runUntil(renderer.start());
    thinking.onReasoning('The user asks for 2+2.\n');
    thinking.onReasoning('Checking the arithmetic');
    await clock.advance(10);
    expect(shown().at(-1)).toContain('💭 thinking… 0s · The user asks for 2+2.');
    await clock.advance(THINKING_REFRESH_MS);
    expect(shown().at(-1)).toContain('💭 thinking… 3s · Checking the arithmetic');
    // Two minutes of thinking: the line keeps moving, within the edit budget.
    await clock.advance(120_000);
    expect(shown().at(-1)).toMatch(/💭 thinking… 12\ds · Checking the arithmetic/);
    expect(fake.violations).toEqual([]);
    const before = fake.calls.length;
    thinking.onText();
    renderer.append('2 + 2 = 4');
    await clock.advance(6000);
    expect(shown().at(-1)).toContain('2 + 2 = 4');
    expect(shown().at(-1)).not.toContain('thinking');
    // The timer is gone: no more status edits.
    const after = fake.calls.length;
    await clock.advance(30_000);
    expect(fake.calls.length).toBe(after);
    expect(after).toBeGreaterThan(before);
    await clock.runUntil(renderer.finish(foot('m')));
    expect(fake.texts().join('\n')).not.toContain('thinking…');
  });

  it('hidden shows only "thinking… Ns"', async () => {
    const { clock, renderer, thinking, shown } = setup('hidden');
    await clock.runUntil(renderer.start());
    thinking.onReasoning('A secret plan');
    await clock.advance(THINKING_REFRESH_MS * 2);
    expect(shown().at(-1)).toContain('💭 thinking… 6s');
    expect(shown().join('\n')).not.toContain('secret');
    thinking.stop();
  });

  it('encrypted reasoning (no text) shows the time only', async () => {
    const { clock, renderer, thinking, shown } = setup('status');
    await clock.runUntil(renderer.start());
    thinking.onReasoning('');
    await clock.advance(THINKING_REFRESH_MS);
    expect(shown().at(-1)).toMatch(/💭 thinking… 3s$/);
    thinking.stop();
  });
});
