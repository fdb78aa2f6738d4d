/**
 * Autocomplete choices for `model` and `tool` options: up to 25, each name at
 * most 100 characters (Discord's limits).
 */
import type { Core } from '../../core/core.ts';
import { formatPrices } from '../../llm/price-label.ts';
import type { ModelInfo } from '../../llm/types.ts';

export const MAX_CHOICES = 25;
const MAX_CHOICE = 100;

export interface Choice {
  name: string;
  value: string;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** "openai/gpt-4o-mini · $0.15 in / $0.60 out per 1M tokens", the id shortened first when too long. */
export function modelChoice(model: Pick<ModelInfo, 'id' | 'isFree' | 'pricing' | 'ceilingPricing'>): Choice | undefined {
  if (model.id.length > MAX_CHOICE) return undefined;
  const price = formatPrices(model, { short: true });
  const suffix = ` · ${price}`;
  const name = suffix.length >= MAX_CHOICE - 10 ? clip(model.id, MAX_CHOICE) : clip(model.id, MAX_CHOICE - suffix.length) + suffix;
  return { name, value: model.id };
}

export async function modelChoices(core: Core, typed: string): Promise<Choice[]> {
  const found = await core.catalog.search(typed.trim(), { limit: MAX_CHOICES });
  return found
    .map(modelChoice)
    .filter((c): c is Choice => c !== undefined)
    .slice(0, MAX_CHOICES);
}

export function toolChoices(core: Core, typed: string): Choice[] {
  const needle = typed.trim().toLowerCase();
  return core.registry
    .list()
    .filter((tool) => needle === '' || tool.name.toLowerCase().includes(needle) || tool.description.toLowerCase().includes(needle))
    .sort((a, b) => Number(!a.name.startsWith(needle)) - Number(!b.name.startsWith(needle)) || a.name.localeCompare(b.name))
    .slice(0, MAX_CHOICES)
    .map((tool) => ({ name: clip(`${tool.name} · ${tool.description}`, MAX_CHOICE), value: tool.name }));
}
