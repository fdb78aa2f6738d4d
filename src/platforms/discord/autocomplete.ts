/**
 * Autocomplete for `model` and `tool` options: up to 25 choices, each name at
 * most 100 characters (Discord's limits), within Discord's 3 s.
 */
import type { AutocompleteInteraction } from 'discord.js';
import { formatPrices } from '../../core/price-label.ts';
import { describeOptions } from '../../core/commands.ts';
import type { AdapterHost } from '../../core/host.ts';
import type { ModelInfo } from '../../llm/types.ts';
import { truncate } from '../../util/text.ts';
import { withDeadline } from '../../util/time.ts';
import type { DiscordContext } from './context.ts';

export const MAX_CHOICES = 25;
const MAX_CHOICE = 100;
/** Autocomplete must answer within 3 s (real time, whatever the core's clock says); give the catalog this long. */
const AUTOCOMPLETE_BUDGET_MS = 2000;

export interface Choice {
  name: string;
  value: string;
}

/** "openai/gpt-4o-mini · $0.15 in / $0.60 out per 1M tokens", the id shortened first when too long. */
export function modelChoice(model: Pick<ModelInfo, 'id' | 'isFree' | 'pricing' | 'ceilingPricing'>): Choice | undefined {
  if (model.id.length > MAX_CHOICE) return undefined;
  const price = formatPrices(model, { short: true });
  const suffix = ` · ${price}`;
  const name = suffix.length >= MAX_CHOICE - 10 ? truncate(model.id, MAX_CHOICE) : truncate(model.id, MAX_CHOICE - suffix.length) + suffix;
  return { name, value: model.id };
}

export async function modelChoices(host: Pick<AdapterHost, 'searchModels'>, typed: string): Promise<Choice[]> {
  const found = await host.searchModels(typed, MAX_CHOICES);
  return found
    .map(modelChoice)
    .filter((c): c is Choice => c !== undefined)
    .slice(0, MAX_CHOICES);
}

export function toolChoices(host: Pick<AdapterHost, 'tools'>, typed: string): Choice[] {
  const needle = typed.trim().toLowerCase();
  return host
    .tools()
    .filter((tool) => needle === '' || tool.name.toLowerCase().includes(needle) || tool.description.toLowerCase().includes(needle))
    .sort((a, b) => Number(!a.name.startsWith(needle)) - Number(!b.name.startsWith(needle)) || a.name.localeCompare(b.name))
    .slice(0, MAX_CHOICES)
    .map((tool) => ({ name: truncate(`${tool.name} · ${tool.description}`, MAX_CHOICE), value: tool.name }));
}

export async function handleAutocomplete(ctx: DiscordContext, interaction: AutocompleteInteraction): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const command = ctx.host.commands.find((c) => c.name === interaction.commandName);
  const subName = interaction.options.getSubcommand(false);
  const schema = subName ? command?.subcommands?.[subName]?.options : command?.options;
  const hint = describeOptions(schema).find((o) => o.name === focused.name)?.hints.autocomplete;
  const typed = String(focused.value);
  let choices: Choice[] = [];
  try {
    if (hint === 'model') choices = await withDeadline(modelChoices(ctx.host, typed), AUTOCOMPLETE_BUDGET_MS, []);
    else if (hint === 'tool') choices = toolChoices(ctx.host, typed);
  } catch (error) {
    ctx.logger.warn({ err: error }, 'autocomplete lookup failed');
  }
  await interaction.respond(choices);
}
