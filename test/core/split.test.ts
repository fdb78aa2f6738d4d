import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MIN_SPLIT_LENGTH,
  joinSplitPieces,
  openFenceAtEnd,
  splitMessage,
  splitMessagePieces,
  type SplitPiece,
} from '../../src/core/split.ts';

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Every invariant of one split, checked together. */
function checkSplit(text: string, max: number, pieces: SplitPiece[]): void {
  if (text.trim() === '') {
    expect(pieces).toEqual([]);
    return;
  }
  expect(pieces.length).toBeGreaterThan(0);
  expect(joinSplitPieces(pieces)).toBe(text);
  expect(splitMessage(text, max)).toEqual(pieces.map((piece) => piece.text));
  pieces.forEach((piece, i) => {
    expect(piece.text.length).toBeLessThanOrEqual(max);
    expect(piece.text.trim()).not.toBe('');
    expect(piece.text).toBe(piece.open + text.slice(piece.start, piece.end) + piece.close);
    expect(piece.gapBefore.trim()).toBe('');
    expect(piece.gapAfter.trim()).toBe('');
    if (i > 0) expect(piece.gapBefore).toBe('');
    // Fences balanced in every piece.
    expect(openFenceAtEnd(piece.text)).toBeNull();
    // No surrogate pair split at the edges.
    expect(isLow(piece.text.charCodeAt(0))).toBe(false);
    expect(isHigh(piece.text.charCodeAt(piece.text.length - 1))).toBe(false);
    // A code block closed here is reopened, same marker and language, in the next piece.
    const next = pieces[i + 1];
    if (next && piece.close !== '') {
      expect(next.open.startsWith(piece.close.slice(1))).toBe(true);
    }
    if (next) expect(next.start).toBe(piece.end + piece.gapAfter.length);
  });
}

const word = fc.oneof(
  fc.constantFrom('the', 'model', 'answer', 'x', 'const', 'a = 1;', '`code`', '**bold**', '- item', '1.', '#', '>'),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
  fc.constantFrom('😀', '👨‍👩‍👧‍👦', '🇫🇷', 'é', '𝔘𝔫𝔦', '你好'),
  fc.integer({ min: 40, max: 600 }).map((n) => 'w'.repeat(n)),
  fc.integer({ min: 20, max: 300 }).map((n) => '😀'.repeat(n)),
);
const separator = fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\n', '\n\n', '\r\n', '\r\n\r\n', '\n\n\n', '\n    ', ' \n');
const fenceLine = fc.constantFrom('```', '```ts', '```python', '~~~', '~~~js', '````', '```c++', '``` ', '   ```', '    ```', '```js title x');
const token = fc.oneof(
  { weight: 6, arbitrary: word },
  { weight: 4, arbitrary: separator },
  { weight: 1, arbitrary: fenceLine.map((fence) => `\n${fence}\n`) },
  { weight: 1, arbitrary: fenceLine },
);
const randomText = fc.array(token, { maxLength: 250 }).map((tokens) => tokens.join(''));

const codeBlock = fc
  .record({
    lang: fc.constantFrom('', 'ts', 'python', 'rust'),
    lines: fc.array(fc.oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), fc.constant('')), { maxLength: 40 }),
    tilde: fc.boolean(),
  })
  .map(({ lang, lines, tilde }) => {
    const marker = tilde ? '~~~' : '```';
    const body = lines.filter((line) => !/^ {0,3}(```|~~~)/.test(line)).join('\n');
    return `${marker}${lang}\n${body}\n${marker}`;
  });
const paragraph = fc.array(word, { minLength: 1, maxLength: 60 }).map((words) => words.join(' '));
const markdownText = fc
  .array(fc.oneof(paragraph, codeBlock), { minLength: 1, maxLength: 25 })
  .chain((blocks) => fc.constantFrom('\n\n', '\r\n\r\n', '\n').map((sep) => blocks.join(sep)));

describe('splitMessage properties', () => {
  const maxLength = fc.integer({ min: MIN_SPLIT_LENGTH, max: 500 });

  it('random text: within the limit, balanced fences, joins back to the original', () => {
    fc.assert(
      fc.property(randomText, maxLength, (text, max) => {
        checkSplit(text, max, splitMessagePieces(text, max));
      }),
      { numRuns: 400 },
    );
  });

  it('markdown with code blocks: same invariants', () => {
    fc.assert(
      fc.property(markdownText, maxLength, (text, max) => {
        checkSplit(text, max, splitMessagePieces(text, max));
      }),
      { numRuns: 300 },
    );
  });

  it('text that fits is returned whole', () => {
    fc.assert(
      fc.property(randomText, (text) => {
        fc.pre(text.trim() !== '' && openFenceAtEnd(text) === null);
        expect(splitMessage(text, Math.max(MIN_SPLIT_LENGTH, text.length))).toEqual([text]);
      }),
    );
  });

  it('plain prose is never hard-split and pieces are reasonably full', () => {
    const prose = fc.array(fc.constantFrom('alpha', 'beta', 'gamma', 'delta', 'epsilon'), { minLength: 1, maxLength: 600 });
    fc.assert(
      fc.property(prose, maxLength, (words, max) => {
        const text = words.join(' ');
        const pieces = splitMessage(text, max);
        expect(pieces.join(' ')).toBe(text);
        pieces.slice(0, -1).forEach((piece) => expect(piece.length).toBeGreaterThan(max - 10));
      }),
    );
  });
});

describe('splitMessage examples', () => {
  const para = (n: number, w = 'word') => Array.from({ length: n }, () => w).join(' ');

  it('returns nothing for empty or blank text', () => {
    expect(splitMessage('', 2000)).toEqual([]);
    expect(splitMessage(' \n\t ', 2000)).toEqual([]);
  });

  it('rejects limits too small to hold reopened fences', () => {
    expect(() => splitMessage('hello', 20)).toThrow(RangeError);
  });

  it('cuts at a paragraph break before a line break or a space', () => {
    const first = `${para(10)}\n${para(5)}`; // 74 chars, contains a line break
    const second = para(12);
    const text = `${first}\n\n${second}`;
    expect(splitMessage(text, 100)).toEqual([first, second]);
  });

  it('cuts at a line break when no paragraph break fits', () => {
    const text = `${para(15)}\n${para(15)}`; // each line 74 chars
    expect(splitMessage(text, 100)).toEqual([para(15), para(15)]);
  });

  it('cuts at a space when a line is too long, and keeps the indentation of the next line', () => {
    const text = `${para(30)}\n  - nested item`;
    const pieces = splitMessagePieces(text, 100);
    expect(pieces.map((p) => p.text)).toEqual([para(20), `${para(10)}\n  - nested item`]);
    expect(pieces[0]!.gapAfter).toBe(' ');
  });

  it('hard-splits only a word longer than the limit', () => {
    const long = 'x'.repeat(250);
    expect(splitMessage(`short ${long}`, 100)).toEqual(['short', 'x'.repeat(100), 'x'.repeat(100), 'x'.repeat(50)]);
  });

  it('closes and reopens a code block with its language', () => {
    const code = Array.from({ length: 12 }, (_, i) => `const value${i} = ${i};`).join('\n');
    const text = `Here:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nDone.`;
    const pieces = splitMessage(text, 150);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(150);
      expect(openFenceAtEnd(piece)).toBeNull();
    }
    // The blank line after "Here:" would leave a tiny piece, so the cut is at a line inside the code.
    expect(pieces).toHaveLength(2);
    expect(pieces[0]!.startsWith('Here:\n\n```ts\nconst value0 = 0;\n')).toBe(true);
    expect(pieces[0]!.endsWith('const value6 = 6;\n```')).toBe(true);
    expect(pieces[1]!.startsWith('```ts\nconst value7 = 7;\n')).toBe(true);
    expect(pieces[1]!.endsWith('```\n\nDone.')).toBe(true);
  });

  it('keeps a longer fence marker when reopening', () => {
    const inner = Array.from({ length: 10 }, (_, i) => `line ${i} with some text`).join('\n');
    const text = `\`\`\`\`md\n${inner}\n\`\`\`\``;
    const pieces = splitMessage(text, 120);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces[1]!.startsWith('````md\n')).toBe(true);
    expect(pieces[0]!.endsWith('\n````')).toBe(true);
  });

  it('closes a code block still open at the end (a streaming answer)', () => {
    expect(splitMessage('see:\n```py\nprint(1)', 100)).toEqual(['see:\n```py\nprint(1)\n```']);
  });

  it('does not cut right after an opening fence when a better cut exists', () => {
    const text = `${para(8)}\n\n\`\`\`ts\n${'a'.repeat(40)}\n${'b'.repeat(40)}\n\`\`\``;
    const pieces = splitMessage(text, 100);
    expect(pieces[0]).toBe(para(8));
  });

  it('never splits a surrogate pair or an emoji sequence', () => {
    const family = '👨‍👩‍👧‍👦';
    const text = family.repeat(40);
    const pieces = splitMessage(text, 100);
    expect(pieces.join('')).toBe(text);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(100);
      expect(piece.length % family.length).toBe(0);
    }
    const odd = `x${'😀'.repeat(80)}`;
    const oddPieces = splitMessage(odd, 101);
    expect(oddPieces.join('')).toBe(odd);
    expect(oddPieces[0]!.length).toBe(101);
  });

  it('keeps CRLF pairs together and restores them when joining', () => {
    const line = para(15);
    const text = `${line}\r\n${line}\r\n${line}`;
    const pieces = splitMessagePieces(text, 100);
    expect(pieces.map((p) => p.text)).toEqual([line, line, line]);
    expect(pieces[0]!.gapAfter).toBe('\r\n');
    expect(joinSplitPieces(pieces)).toBe(text);
  });

  it('does not turn a mid-line ``` into a fence by cutting before it', () => {
    const text = `${'y'.repeat(90)} \`\`\`ts and more text here`;
    const pieces = splitMessage(text, 100);
    for (const piece of pieces) expect(openFenceAtEnd(piece)).toBeNull();
    expect(pieces.join(' ')).toBe(text);
  });

  it('drops huge leading whitespace instead of sending a blank piece', () => {
    const text = `${' '.repeat(300)}hello`;
    const pieces = splitMessagePieces(text, 100);
    expect(pieces.map((p) => p.text)).toEqual(['hello']);
    expect(joinSplitPieces(pieces)).toBe(text);
  });

  it('drops trailing whitespace at a cut at the end', () => {
    const text = `${para(19)}${' '.repeat(50)}`;
    const pieces = splitMessagePieces(text, 100);
    expect(pieces.map((p) => p.text)).toEqual([para(19)]);
    expect(joinSplitPieces(pieces)).toBe(text);
  });
});
