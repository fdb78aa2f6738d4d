/**
 * OpenRouter's streamed reasoning: `delta.reasoning` (text) and
 * `delta.reasoning_details` (entries of type reasoning.text, reasoning.summary
 * or reasoning.encrypted, streamed in fragments that share an `index`; a
 * fragment may carry only a signature). The fragments are merged back into
 * whole entries, which tool loops send back unchanged.
 */

/** What one chunk says about reasoning; undefined when it says nothing. */
export interface ReasoningDelta {
  /** Reasoning text to show ('' when the chunk has none: a signature, encrypted data). */
  text: string;
  encrypted: boolean;
}

type Detail = Record<string, unknown>;

/** Fields that arrive in pieces and are joined; every other field is kept as first (or last non-empty) seen. */
const JOINED = ['text', 'summary', 'data'] as const;

/** Reads a chunk's delta; `details` collects the merged reasoning_details entries of the round. */
export function readReasoning(delta: unknown, details: Detail[]): ReasoningDelta | undefined {
  if (typeof delta !== 'object' || delta === null) return undefined;
  const d = delta as { reasoning?: unknown; reasoning_details?: unknown };
  const fragments = Array.isArray(d.reasoning_details) ? d.reasoning_details.filter(isDetail) : [];
  for (const fragment of fragments) mergeDetail(details, fragment);
  const plain = typeof d.reasoning === 'string' ? d.reasoning : '';
  if (fragments.length === 0 && plain === '') return undefined;
  const text = plain !== '' ? plain : fragments.map(detailText).join('');
  const encrypted = fragments.some((f) => f.type === 'reasoning.encrypted');
  return { text, encrypted };
}

function isDetail(value: unknown): value is Detail {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function detailText(detail: Detail): string {
  if (detail.type === 'reasoning.text' && typeof detail.text === 'string') return detail.text;
  if (detail.type === 'reasoning.summary' && typeof detail.summary === 'string') return detail.summary;
  return '';
}

function mergeDetail(details: Detail[], fragment: Detail): void {
  const index = typeof fragment.index === 'number' ? fragment.index : undefined;
  const same = details.find((d) => index !== undefined && d.index === index && d.type === fragment.type);
  if (!same) {
    details.push({ ...fragment });
    return;
  }
  for (const [key, value] of Object.entries(fragment)) {
    if ((JOINED as readonly string[]).includes(key) && typeof value === 'string') {
      same[key] = (typeof same[key] === 'string' ? same[key] : '') + value;
    } else if (value !== '' && value !== null && value !== undefined) {
      same[key] = value;
    }
  }
}
