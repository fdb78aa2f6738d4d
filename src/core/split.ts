/**
 * Splits an answer into chat-sized pieces without breaking code blocks.
 *
 * Cuts prefer paragraph breaks, then line breaks, then spaces; a word is cut
 * only when it alone is too long (never inside a surrogate pair, and at a
 * grapheme boundary when there is one). A cut inside a code block closes the
 * fence at the end of its piece and reopens it, with the same marker and
 * language, at the start of the next.
 *
 * The joining rule: every piece records the whitespace dropped at its edges
 * (`gapBefore`, `gapAfter`) and the fence lines the splitter added (`open`,
 * `close`), so `joinSplitPieces(splitMessagePieces(t, n)) === t` for any text
 * with something besides whitespace in it.
 */

/** Below this the reopened fences and the unsplittable fence lines may not fit. */
export const MIN_SPLIT_LENGTH = 100;

/** An open code block: its fence marker (``` or ~~~, 3-6 long) and language. */
export interface Fence {
  marker: string;
  info: string;
}

export interface SplitPiece {
  /** What to send: `open + content + close`. */
  text: string;
  /** The content's range in the original text. */
  start: number;
  end: number;
  /** Fence line the splitter added to reopen a code block ('' if none), ends with '\n'. */
  open: string;
  /** Fence line the splitter added to close a code block ('' if none), starts with '\n'. */
  close: string;
  /** Whitespace dropped before this piece (only ever on the first one). */
  gapBefore: string;
  /** Whitespace dropped after this piece. */
  gapAfter: string;
}

// A fence line in the sense of this splitter (a bounded subset of CommonMark,
// so fence lines stay short and a cut always exists near any position).
const FENCE_LINE = /^ {0,3}(?:(`{3,6})([^`\r\n]{0,24})|(~{3,6})([^~\r\n]{0,24}))\r?$/;
const MAX_FENCE_LINE = 3 + 6 + 24 + 1;
const VISIBLE = /\S/g;
const WHITESPACE_RUN = /\s+/g;
const FILL_WANTED = 0.3;

type Transition = Fence | null | 'none';

/** What a line does to the fence state: opens a block, closes it, or nothing ('none'). */
function lineTransition(line: string, state: Fence | null): Transition {
  if (line.length > MAX_FENCE_LINE) return 'none';
  const match = FENCE_LINE.exec(line);
  if (!match) return 'none';
  const marker = match[1] ?? match[3] ?? '';
  const info = (match[2] ?? match[4] ?? '').trim();
  if (state === null) return { marker, info };
  if (marker[0] === state.marker[0] && marker.length >= state.marker.length && info === '') return null;
  return 'none';
}

function sameTransition(a: Transition, b: Transition): boolean {
  if (a === 'none' || a === null || b === 'none' || b === null) return a === b;
  return a.marker === b.marker && a.info === b.info;
}

/** The code block left open at the end of `text`, or null when its fences are balanced. */
export function openFenceAtEnd(text: string): Fence | null {
  let state: Fence | null = null;
  for (const line of text.split('\n')) {
    const next = lineTransition(line, state);
    if (next !== 'none') state = next;
  }
  return state;
}

interface Line {
  start: number;
  /** Index of the '\n' ending the line, or the text's length. */
  end: number;
  before: Fence | null;
  after: Fence | null;
  fence: boolean;
}

function analyzeLines(text: string): Line[] {
  const lines: Line[] = [];
  let state: Fence | null = null;
  let start = 0;
  for (;;) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    const next = lineTransition(text.slice(start, end), state);
    const after: Fence | null = next === 'none' ? state : next;
    lines.push({ start, end, before: state, after, fence: next !== 'none' });
    state = after;
    if (newline === -1) return lines;
    start = newline + 1;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function splitsSurrogatePair(text: string, position: number): boolean {
  return (
    position > 0 &&
    position < text.length &&
    isHighSurrogate(text.charCodeAt(position - 1)) &&
    isLowSurrogate(text.charCodeAt(position))
  );
}

function fenceOpenLine(fence: Fence | null): string {
  return fence ? `${fence.marker}${fence.info}\n` : '';
}

function fenceCloseLine(fence: Fence | null): string {
  return fence ? `\n${fence.marker}` : '';
}

interface Cut {
  /** The piece ends here. */
  a: number;
  /** The next piece starts here; text[a, b) is dropped whitespace. */
  b: number;
}

class Splitter {
  readonly #text: string;
  readonly #max: number;
  readonly #lines: Line[];
  #segmenter: Intl.Segmenter | undefined;

  constructor(text: string, max: number) {
    this.#text = text;
    this.#max = max;
    this.#lines = analyzeLines(text);
  }

  split(): SplitPiece[] {
    const text = this.#text;
    const pieces: SplitPiece[] = [];
    let start = 0;
    let gapBefore = '';
    const leading = this.#firstVisible(0);
    if (leading > this.#max / 2 && this.#validStart(leading)) {
      start = leading;
      gapBefore = text.slice(0, leading);
    }
    for (;;) {
      const openState = this.#lineAt(start).before;
      const open = fenceOpenLine(openState);
      if (this.#fits(open, start, text.length)) {
        pieces.push(this.#piece(open, start, text.length, gapBefore, ''));
        return pieces;
      }
      const cut = this.#chooseCut(open, start);
      const rest = text.slice(cut.b);
      const last = rest.trim() === '';
      pieces.push(this.#piece(open, start, cut.a, gapBefore, last ? text.slice(cut.a) : text.slice(cut.a, cut.b)));
      if (last) return pieces;
      gapBefore = '';
      start = cut.b;
    }
  }

  #firstVisible(from: number): number {
    VISIBLE.lastIndex = from;
    return VISIBLE.exec(this.#text)?.index ?? this.#text.length;
  }

  #piece(open: string, start: number, end: number, gapBefore: string, gapAfter: string): SplitPiece {
    const close = fenceCloseLine(this.#stateAtEnd(end));
    return { text: open + this.#text.slice(start, end) + close, start, end, open, close, gapBefore, gapAfter };
  }

  #lineAt(position: number): Line {
    const lines = this.#lines;
    let low = 0;
    let high = lines.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (lines[middle]!.start <= position) low = middle;
      else high = middle - 1;
    }
    return lines[low]!;
  }

  /** The fence state of a piece ending at `a` (valid cut assumed). */
  #stateAtEnd(a: number): Fence | null {
    const line = this.#lineAt(a);
    if (a === line.start) return line.before;
    return line.fence ? line.after : line.before;
  }

  #fits(open: string, start: number, a: number): boolean {
    return open.length + (a - start) + fenceCloseLine(this.#stateAtEnd(a)).length <= this.#max;
  }

  /** A piece that started at `start` may end at `a` and keep the same fence meaning. */
  #validEnd(a: number, start: number): boolean {
    const line = this.#lineAt(a);
    if (a === line.start) return true;
    const text = this.#text;
    const from = Math.max(start, line.start);
    const tail = text.slice(a, line.end);
    const restIsBlank = tail.trim() === '';
    if (line.fence) {
      if (from !== line.start || !restIsBlank) return false;
      return sameTransition(lineTransition(text.slice(line.start, a), line.before), line.after);
    }
    return lineTransition(text.slice(from, a), line.before) === 'none';
  }

  /** A piece may start at `b` (mid-line starts must not look like a fence). */
  #validStart(b: number): boolean {
    const line = this.#lineAt(b);
    if (b === line.start) return true;
    if (line.fence) return false;
    return lineTransition(this.#text.slice(b, line.end), line.before) === 'none';
  }

  #chooseCut(open: string, start: number): Cut {
    const text = this.#text;
    const capacity = this.#max - open.length;
    const firstVisible = this.#firstVisible(start);
    const highest = start + capacity;
    // Best candidate per tier: 0 paragraph, 1 line, 2 space, 3 awkward (an empty code block).
    const best: (Cut | undefined)[] = [undefined, undefined, undefined, undefined];
    WHITESPACE_RUN.lastIndex = firstVisible;
    for (let match = WHITESPACE_RUN.exec(text); match && match.index <= highest; match = WHITESPACE_RUN.exec(text)) {
      const a = match.index;
      const run = match[0];
      const runEnd = a + run.length;
      if (runEnd === text.length) {
        // Only whitespace after this: it is the last piece if it fits.
        if (this.#fits(open, start, a) && this.#validEnd(a, start)) return { a, b: runEnd };
        continue;
      }
      const lastNewline = run.lastIndexOf('\n');
      let b = runEnd;
      if (lastNewline !== -1 && runEnd - (a + lastNewline + 1) <= capacity / 2) b = a + lastNewline + 1;
      if (!this.#fits(open, start, a) || !this.#validEnd(a, start) || !this.#validStart(b)) continue;
      const newlines = run.split('\n').length - 1;
      let tier = newlines >= 2 ? 0 : newlines === 1 ? 1 : 2;
      if (this.#awkward(a, b)) tier = 3;
      best[tier] = { a, b };
    }
    for (const cut of best) {
      if (cut && cut.a - start >= capacity * FILL_WANTED) return cut;
    }
    for (const cut of best.slice(0, 3)) {
      if (cut) return cut;
    }
    return this.#hardCut(open, start, firstVisible, highest);
  }

  /** Cutting here leaves an empty code block in one of the two pieces. */
  #awkward(a: number, b: number): boolean {
    const endLine = this.#lineAt(a);
    if (a > endLine.start && endLine.fence && endLine.after !== null) return true;
    const startLine = this.#lineAt(b);
    return b === startLine.start && startLine.fence && startLine.after === null;
  }

  #hardCut(open: string, start: number, firstVisible: number, highest: number): Cut {
    const text = this.#text;
    const top = Math.min(highest, text.length - 1);
    const usable = (position: number, checkFences: boolean): boolean =>
      this.#fits(open, start, position) &&
      !splitsSurrogatePair(text, position) &&
      (!checkFences || (this.#validEnd(position, start) && this.#validStart(position)));
    // A grapheme boundary first (keeps emoji sequences whole), then any code point.
    this.#segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const windowStart = firstVisible + 1;
    const windowEnd = Math.min(text.length, top + 16);
    const boundaries: number[] = [];
    for (const segment of this.#segmenter.segment(text.slice(firstVisible, windowEnd))) {
      const position = firstVisible + segment.index;
      if (position >= windowStart && position <= top) boundaries.push(position);
    }
    for (let i = boundaries.length - 1; i >= 0; i--) {
      const position = boundaries[i]!;
      if (usable(position, true)) return { a: position, b: position };
    }
    for (let position = top; position >= windowStart; position--) {
      if (usable(position, true)) return { a: position, b: position };
    }
    // Unreachable for maxLength >= MIN_SPLIT_LENGTH; keeps the loop finite anyway.
    for (let position = top; position >= windowStart; position--) {
      if (usable(position, false)) return { a: position, b: position };
    }
    const position = splitsSurrogatePair(text, windowStart) ? windowStart + 1 : windowStart;
    return { a: position, b: position };
  }
}

/**
 * Splits `text` into pieces of at most `maxLength` UTF-16 units each, with
 * their offsets and the markers added, so callers can continue from a piece.
 * Text that is empty or only whitespace gives no pieces.
 */
export function splitMessagePieces(text: string, maxLength: number): SplitPiece[] {
  if (!(maxLength >= MIN_SPLIT_LENGTH)) {
    throw new RangeError(`maxLength must be at least ${MIN_SPLIT_LENGTH}, got ${maxLength}`);
  }
  if (text.trim() === '') return [];
  return new Splitter(text, maxLength).split();
}

/** Splits `text` into messages of at most `maxLength` characters (see splitMessagePieces). */
export function splitMessage(text: string, maxLength: number): string[] {
  return splitMessagePieces(text, maxLength).map((piece) => piece.text);
}

/** The inverse of splitMessagePieces: removes the added fences and restores the dropped whitespace. */
export function joinSplitPieces(pieces: readonly SplitPiece[]): string {
  return pieces
    .map(
      (piece) =>
        piece.gapBefore + piece.text.slice(piece.open.length, piece.text.length - piece.close.length) + piece.gapAfter,
    )
    .join('');
}

