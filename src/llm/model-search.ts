import type { ModelInfo } from './types.ts';

/** Ranks models for a free-text query: every word must match somewhere; exact id and id prefixes come first. */
export function rankModels(models: readonly ModelInfo[], text: string, options: { free?: boolean; limit?: number; inputModality?: string } = {}): ModelInfo[] {
  const query = text.trim().toLowerCase();
  const words = query.split(/\s+/).filter(Boolean);
  const limit = options.limit ?? 25;
  const scored: { model: ModelInfo; score: number }[] = [];
  for (const model of models) {
    if (options.free !== undefined && model.isFree !== options.free) continue;
    if (options.inputModality !== undefined && !(model.inputModalities ?? []).includes(options.inputModality)) continue;
    const score = scoreModel(model, query, words);
    if (score > 0) scored.push({ model, score });
  }
  scored.sort((a, b) => b.score - a.score || a.model.id.localeCompare(b.model.id));
  return scored.slice(0, Math.max(0, limit)).map((s) => s.model);
}

function scoreModel(model: ModelInfo, query: string, words: readonly string[]): number {
  if (words.length === 0) return 1;
  const id = model.id.toLowerCase();
  const slug = id.slice(id.indexOf('/') + 1);
  const name = model.name.toLowerCase();
  const description = (model.description ?? '').toLowerCase();
  let score = 1;
  for (const word of words) {
    if (id.includes(word)) score += 10;
    else if (name.includes(word)) score += 5;
    else if (description.includes(word)) score += 1;
    else return 0;
  }
  if (id === query) score += 1000;
  else if (id.startsWith(query) || slug.startsWith(query)) score += 500;
  else if (name.startsWith(query)) score += 100;
  return score;
}

/** "Did you mean": ids within a small edit distance, or sharing most of their tokens with the input. */
export function suggestIds(ids: readonly string[], input: string, limit = 5): string[] {
  const query = input.trim().toLowerCase();
  if (!query) return [];
  const queryTokens = tokens(query);
  const querySlug = query.slice(query.indexOf('/') + 1);
  const candidates: { id: string; score: number }[] = [];
  for (const id of ids) {
    const lower = id.toLowerCase();
    if (lower === query) continue;
    const slug = lower.slice(lower.indexOf('/') + 1);
    const distance = Math.min(editDistance(query, lower), editDistance(querySlug, slug));
    const maxDistance = Math.max(2, Math.floor(querySlug.length / 4));
    const idTokens = tokens(lower);
    let shared = 0;
    for (const t of queryTokens) if (idTokens.has(t)) shared++;
    const overlap = queryTokens.size === 0 ? 0 : shared / queryTokens.size;
    const contains = slug.includes(querySlug) || querySlug.includes(slug);
    if (distance > maxDistance && overlap < 0.5 && !contains) continue;
    // Lower is better: edit distance, discounted by shared tokens and containment.
    const score = distance - overlap * 4 - (contains ? 3 : 0);
    candidates.push({ id, score });
  }
  candidates.sort((a, b) => a.score - b.score || a.id.length - b.id.length || a.id.localeCompare(b.id));
  return candidates.slice(0, Math.max(0, limit)).map((c) => c.id);
}

function tokens(text: string): Set<string> {
  return new Set(text.split(/[/:._\s-]+/).filter((t) => t.length > 0));
}

/** Levenshtein distance with two rows; ids are short, so O(n*m) is fine. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = new Array<number>(b.length + 1);
  let current = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) previous[j] = j;
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length] ?? 0;
}
