/**
 * The status line of a model that is thinking: "💭 thinking… 12s · latest
 * reasoning line", refreshed on the core Clock while no answer text has come,
 * and removed when the text starts. The line changes when thinking starts
 * and then at most once per THINKING_REFRESH_MS (seconds and latest line
 * together), so a fast stream of reasoning chunks costs no extra edits; the
 * renderer fits those changes into the platform's edit budget.
 */
import { truncate } from '../util/text.ts';
import type { Clock } from './types.ts';

export type ReasoningDisplay = 'hidden' | 'status' | 'spoiler';

/** How often the elapsed seconds move while the model thinks. */
export const THINKING_REFRESH_MS = 3_000;
const SUMMARY_LINE_MAX = 80;
const TAIL_KEPT = 400;

export class ThinkingStatus {
  #startedAt: number | null = null;
  /** The end of the reasoning so far: its last line is what the model is on now. */
  #tail = '';
  #timer: AbortController | null = null;

  constructor(
    private readonly display: ReasoningDisplay,
    private readonly clock: Clock,
    private readonly show: (line: string | null) => void,
  ) {}

  /** A reasoning chunk arrived (text may be '': encrypted reasoning, a signature). */
  onReasoning(text: string): void {
    const starting = this.#startedAt === null;
    if (starting) {
      this.#startedAt = this.clock.now();
      this.#tail = '';
      this.#tick();
    }
    this.#tail = (this.#tail + text).slice(-TAIL_KEPT);
    // Later lines wait for the next tick: one status change per interval, whatever the chunk rate.
    if (starting) this.show(this.line());
  }

  /** Answer text started: the thinking line goes. */
  onText(): void {
    if (this.#startedAt === null) return;
    this.stop();
    this.show(null);
  }

  /** Stops refreshing (a tool call took the status line, or the answer ended). */
  stop(): void {
    this.#startedAt = null;
    this.#timer?.abort();
    this.#timer = null;
  }

  line(): string {
    const seconds = Math.floor((this.clock.now() - (this.#startedAt ?? this.clock.now())) / 1000);
    const head = `💭 thinking… ${seconds}s`;
    const latest = lastLine(this.#tail);
    if (this.display === 'hidden' || latest === '') return head;
    return `${head} · ${truncate(latest, SUMMARY_LINE_MAX)}`;
  }

  #tick(): void {
    const timer = new AbortController();
    this.#timer = timer;
    const loop = async () => {
      while (!timer.signal.aborted) {
        await this.clock.sleep(THINKING_REFRESH_MS, timer.signal);
        if (!timer.signal.aborted) this.show(this.line());
      }
    };
    loop().catch(() => undefined);
  }
}

/** The last non-empty line of a reasoning piece (what the model is on now). */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.at(-1) ?? '';
}
