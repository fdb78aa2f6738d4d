import { z } from 'zod';
import { defineCommand, defineSubcommand, withHints } from '../src/core/commands.ts';
import { formatContext, levelOf, scopeOption, scopeWords } from '../src/core/command-options.ts';
import type { Core } from '../src/core/core.ts';
import { UserFacingError } from '../src/core/errors.ts';
import { isPresetId } from '../src/core/pipeline.ts';
import { parseRoleList, roleNames } from '../src/core/role-rules.ts';
import type { ResolvedSettings, SettingKey } from '../src/core/settings.ts';
import { WEB_SEARCH_TOOL } from '../src/core/server-tools.ts';
import { requireImageOutput } from '../src/core/image-answers.ts';
import { seesImages } from '../src/core/vision.ts';

const PRIVACY_LABELS = {
  zdr: 'zero data retention (zdr): only providers that keep nothing',
  'no-training': 'no training (data_collection deny): no providers that train on or keep data',
  default: 'default: any provider',
} as const;
import { costsMore, formatPrices, MAX_FALLBACK_MODELS, MAX_MODELS_PER_REQUEST, type ModelInfo } from '../src/core/price-label.ts';

const modelId = withHints(z.string().trim().min(1).describe('Model id, e.g. openai/gpt-4o-mini'), { autocomplete: 'model' });

/** What /model set and /model show say about a preset in charge. */
const PRESET_NOTE =
  'An OpenRouter preset is in charge: its model, prompt and routing are set on openrouter.ai. Its price is not known here, so people under a USD limit (or a server budget) are refused; everyone else may use it.';

const OPTION_KEYS = {
  temperature: 'temperature',
  'max-tokens': 'maxTokens',
  'user-choice': 'allowUserModel',
  'thread-per-conversation': 'threadPerConversation',
  'reasoning-effort': 'reasoningEffort',
  'reasoning-display': 'reasoningDisplay',
  'web-search-domains': 'webSearchDomains',
  privacy: 'privacy',
  'allowed-roles': 'allowedRoles',
  'user-choice-roles': 'userChoiceRoles',
  'image-model': 'imageModel',
  'pdf-engine': 'pdfEngine',
  'vision-model': 'visionModel',
} as const satisfies Record<string, SettingKey>;

/** Options whose value is a list of roles (user groups) or `everyone`. */
const ROLE_OPTIONS = new Set<string>(['allowed-roles', 'user-choice-roles']);

const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;
const REASONING_DISPLAYS = ['hidden', 'status', 'spoiler'] as const;
const PDF_ENGINES = ['native', 'cloudflare-ai', 'mistral-ocr', 'default'] as const;
/** Options where `default` is a value of its own rather than "back to the inherited value". */
const DEFAULT_IS_A_VALUE: readonly OptionName[] = ['privacy', 'pdf-engine'];

/** One of a fixed list of words, or a message naming them. */
function oneOf<T extends string>(option: string, raw: string, allowed: readonly T[]): T {
  const found = allowed.find((word) => word === raw);
  if (found === undefined) throw new UserFacingError('bad-input', `\`${option}\` takes ${allowed.join(', ')} or default.`);
  return found;
}

type OptionName = keyof typeof OPTION_KEYS;
const OPTION_NAMES = Object.keys(OPTION_KEYS) as [OptionName, ...OptionName[]];

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const PRIVACY_VALUES = ['zdr', 'no-training', 'default'] as const;

/** "a.com, b.org" (or "any": no restriction) as the domains web search may use. */
function parseDomains(raw: string): string[] {
  if (raw === 'any') return [];
  const domains = [...new Set(raw.split(/[\s,]+/).filter(Boolean).map((d) => d.replace(/^https?:\/\//, '').replace(/\/.*$/, '')))];
  const bad = domains.find((d) => !DOMAIN.test(d));
  if (bad !== undefined || domains.length === 0) {
    throw new UserFacingError('bad-input', `\`web-search-domains\` takes domains such as \`example.com,docs.python.org\`, or \`any\`${bad ? `; \`${bad.slice(0, 80)}\` is not a domain` : ''}.`);
  }
  return domains;
}

function parsePrivacy(raw: string): (typeof PRIVACY_VALUES)[number] {
  const value = PRIVACY_VALUES.find((v) => v === raw);
  if (!value) throw new UserFacingError('bad-input', '`privacy` takes zdr (zero-data-retention providers only), no-training (providers that do not train on or keep data) or default.');
  return value;
}

function parseOptionValue(option: Exclude<OptionName, 'allowed-roles' | 'user-choice-roles'>, raw: string): number | boolean | string | string[] {
  if (option === 'reasoning-effort') return oneOf(option, raw, REASONING_EFFORTS);
  if (option === 'reasoning-display') return oneOf(option, raw, REASONING_DISPLAYS);
  if (option === 'web-search-domains') return parseDomains(raw);
  if (option === 'privacy') return parsePrivacy(raw);
  if (option === 'pdf-engine') {
    const engine = PDF_ENGINES.find((e) => e === raw);
    if (!engine) throw new UserFacingError('bad-input', '`pdf-engine` takes native (the model reads the PDF, priced as input tokens), cloudflare-ai (free text extraction), mistral-ocr (OCR, $2 per 1,000 pages) or default (OpenRouter picks).');
    return engine;
  }
  if (option === 'user-choice' || option === 'thread-per-conversation') {
    if (/^(on|yes|true|1)$/.test(raw)) return true;
    if (/^(off|no|false|0)$/.test(raw)) return false;
    throw new UserFacingError('bad-input', `\`${option}\` takes on or off.`);
  }
  const n = Number(raw);
  if (option === 'temperature') {
    if (raw === '' || !Number.isFinite(n) || n < 0 || n > 2) throw new UserFacingError('bad-input', 'Temperature is a number from 0 to 2.');
    return n;
  }
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) {
    throw new UserFacingError('bad-input', '`max-tokens` is a whole number from 1 to 1000000.');
  }
  return n;
}

/** `/model option image-model <id>`: a model the catalog knows, with image output; `off` turns /image off. */
async function checkImageModel(core: Core, raw: string): Promise<string | null> {
  if (/^(off|none)$/i.test(raw)) return null;
  const info = await core.pipeline.checkModel(raw);
  requireImageOutput(raw, info);
  return raw;
}

/** Accepts ids separated by spaces or commas; refuses more than OpenRouter takes, before anything is checked or stored. */
function parseFallbacks(raw: string): string[] {
  if (raw.toLowerCase() === 'none') return [];
  const ids = [...new Set(raw.split(/[\s,]+/).filter(Boolean))];
  if (ids.length > MAX_FALLBACK_MODELS) {
    throw new UserFacingError(
      'bad-input',
      `OpenRouter takes at most ${MAX_FALLBACK_MODELS} fallback models (${MAX_MODELS_PER_REQUEST} models per request with the model itself) and rejects more; you gave ${ids.length}.`,
    );
  }
  return ids;
}

/**
 * One line per model in the order OpenRouter tries them, with prices, and a
 * warning under each fallback that may cost more than the model before it.
 */
async function describeFallbackChain(core: Core, primary: string, fallbacks: readonly string[], infos: readonly (ModelInfo | undefined)[]) {
  const chain = [{ id: primary, info: await core.catalog.get(primary) }, ...fallbacks.map((id, i) => ({ id, info: infos[i] }))];
  const lines: string[] = [];
  chain.forEach((entry, i) => {
    const price = entry.info ? formatPrices(entry.info) : 'price unknown (not in the catalog)';
    lines.push(`${i + 1}. \`${entry.id}\`${i === 0 ? ' (the model here)' : ''} · ${price}`);
    const before = chain[i - 1];
    if (before && costsMore(entry.info, before.info)) {
      lines.push(`   ⚠️ costs more than \`${before.id}\`: an outage then multiplies the bill.`);
    }
  });
  return lines;
}

/** The reasoning settings, and a note when the model here does not take them. */
function reasoningLines(s: ResolvedSettings, info: ModelInfo | undefined, from: (source: string) => string): string[] {
  const effort = `**Reasoning effort:** ${s.reasoningEffort.value ?? 'model default'} ${from(s.reasoningEffort.source)}`;
  const why = !info ? 'it is not in the catalog' : info.supportedParameters.includes('reasoning') ? null : 'it does not take reasoning settings';
  const note = why === null ? '' : ` — does not apply to \`${s.model.value}\` (${why})`;
  return [effort + note, `**Reasoning display:** ${s.reasoningDisplay.value} ${from(s.reasoningDisplay.source)}`];
}

/** A vision model must exist and see images; `none` turns the option off here (image questions are refused). */
async function visionModelValue(core: Core, raw: string): Promise<string | null> {
  if (raw.toLowerCase() === 'none') return null;
  const info = await core.pipeline.checkModel(raw);
  if (!seesImages(info)) throw new UserFacingError('bad-input', `\`${raw}\` cannot see images either; pick a model whose inputs include images (\`/models\` lists them).`);
  return raw;
}

export default defineCommand({
  name: 'model',
  description: "Show or change this channel's model",
  subcommands: {
    show: defineSubcommand({
      description: 'Show the model settings here and where each comes from',
      async execute({ invocation, core, reply }) {
        const s = await core.settings.resolve(invocation);
        const from = (source: string) => `_(${source})_`;
        const lines = [
          `**Model:** \`${s.model.value}\` ${from(s.model.source)}`,
          `**Fallbacks:** ${s.fallbackModels.value.length > 0 ? s.fallbackModels.value.map((m) => `\`${m}\``).join(', ') : 'none'} ${from(s.fallbackModels.source)}`,
          `**Provider sort:** ${s.providerSort.value ?? 'OpenRouter default'} ${from(s.providerSort.source)}`,
          `**Provider order:** ${s.providerOrder.value.length > 0 ? s.providerOrder.value.join(', ') : 'any'} ${from(s.providerOrder.source)}`,
          `**Temperature:** ${s.temperature.value ?? 'model default'} ${from(s.temperature.source)}`,
          `**Max output tokens:** ${s.maxTokens.value} ${from(s.maxTokens.source)}`,
          `**Tools:** ${s.tools.value.length > 0 ? s.tools.value.join(', ') : 'none'} ${from(s.tools.source)}`,
          `**Users may pick a model:** ${s.allowUserModel.value ? 'yes' : 'no'} ${from(s.allowUserModel.source)}`,
          `**Web search domains:** ${s.webSearchDomains.value.length > 0 ? s.webSearchDomains.value.join(', ') : 'any'} ${from(s.webSearchDomains.source)}${s.tools.value.includes(WEB_SEARCH_TOOL) ? '' : ' (web_search is not enabled here)'}`,
          `**Privacy:** ${PRIVACY_LABELS[s.privacy.value]} ${from(s.privacy.source)}`,
          `**Image model (/image):** ${s.imageModel.value === null ? 'off' : `\`${s.imageModel.value}\``} ${from(s.imageModel.source)}`,
          `**PDF engine:** ${s.pdfEngine.value === 'default' ? 'OpenRouter default' : s.pdfEngine.value} ${from(s.pdfEngine.source)}`,
          `**Vision model:** ${s.visionModel.value === null ? 'none (image questions to a text-only model are refused)' : `\`${s.visionModel.value}\``} ${from(s.visionModel.source)}`,
        ];
        const info = await core.catalog.get(s.model.value);
        lines.push(...reasoningLines(s, info, from));
        if (info) lines.splice(1, 0, `  ${formatContext(info.contextLength)} context · ${formatPrices(info)}`);
        if (isPresetId(s.model.value)) lines.splice(1, 0, `  ${PRESET_NOTE}`);
        await reply(lines.join('\n'), { ephemeral: true });
      },
    }),
    set: defineSubcommand({
      description: 'Set the model (admins)',
      admin: true,
      options: z.object({ model: modelId, scope: scopeOption }),
      async execute({ options, invocation, core, reply }) {
        const info = await core.pipeline.checkModel(options.model);
        const level = levelOf(options.scope);
        await core.settings.set(invocation, level, 'model', options.model);
        const detail = info ? ` (${formatContext(info.contextLength)} context · ${formatPrices(info)})` : '';
        const preset = isPresetId(options.model) ? `\n${PRESET_NOTE}` : '';
        await reply(`The model for ${scopeWords(level)} is now \`${options.model}\`${detail}.${preset}`, { ephemeral: true });
      },
    }),
    fallbacks: defineSubcommand({
      description: 'Set fallback models, tried in order when the model is down (admins)',
      admin: true,
      options: z.object({
        models: z.string().trim().min(1).describe('Model ids separated by spaces or commas, or "none"'),
        scope: scopeOption,
      }),
      async execute({ options, invocation, core, reply }) {
        const level = levelOf(options.scope);
        const ids = parseFallbacks(options.models);
        const infos: (ModelInfo | undefined)[] = [];
        for (const id of ids) infos.push(await core.pipeline.checkModel(id));
        await core.settings.set(invocation, level, 'fallbackModels', ids);
        if (ids.length === 0) {
          await reply(`No fallback models for ${scopeWords(level)}.`, { ephemeral: true });
          return;
        }
        const primary = (await core.settings.resolve(invocation)).model.value;
        const chain = await describeFallbackChain(core, primary, ids, infos);
        await reply([`Fallbacks for ${scopeWords(level)}: ${ids.map((m) => `\`${m}\``).join(' → ')}.`, ...chain].join('\n'), {
          ephemeral: true,
        });
      },
    }),
    provider: defineSubcommand({
      description: 'Prefer providers by price, throughput or latency (admins)',
      admin: true,
      options: z.object({
        sort: z.enum(['price', 'throughput', 'latency']).describe('What OpenRouter should optimise for'),
        scope: scopeOption,
      }),
      async execute({ options, invocation, core, reply }) {
        const level = levelOf(options.scope);
        await core.settings.set(invocation, level, 'providerSort', options.sort);
        await reply(`Providers for ${scopeWords(level)} are now chosen by ${options.sort}.`, { ephemeral: true });
      },
    }),
    option: defineSubcommand({
      description: 'Set sampling, reasoning, search domains, privacy and other options of this channel (admins)',
      admin: true,
      options: z.object({
        option: z.enum(OPTION_NAMES).describe('Which option'),
        value: z.string().trim().min(1).describe('A number, on/off, a word, a model id, domains or "any", or "default"/"inherit"'),
        scope: scopeOption,
      }),
      async execute({ options, invocation, core, reply }) {
        const level = levelOf(options.scope);
        const key = OPTION_KEYS[options.option];
        const raw = options.value.toLowerCase();
        // `privacy default` is a value of its own (any provider); `inherit` goes back to the inherited value for any option.
        if ((raw === 'default' && !DEFAULT_IS_A_VALUE.includes(options.option)) || raw === 'inherit') {
          await core.settings.reset(invocation, level, [key]);
          await reply(`\`${options.option}\` for ${scopeWords(level)} is back to the inherited value.`, { ephemeral: true });
          return;
        }
        if (ROLE_OPTIONS.has(options.option)) {
          const roles = await parseRoleList(invocation, options.value, options.option);
          await core.settings.set(invocation, level, key as 'allowedRoles', roles);
          await reply(`\`${options.option}\` for ${scopeWords(level)} is now ${roles.length === 0 ? 'everyone' : roleNames(roles)}.`, { ephemeral: true });
          return;
        }
        const value: unknown =
          options.option === 'image-model'
            ? await checkImageModel(core, options.value)
            : options.option === 'vision-model'
              ? await visionModelValue(core, options.value.trim())
              : parseOptionValue(options.option as Exclude<OptionName, 'allowed-roles' | 'user-choice-roles' | 'image-model' | 'vision-model'>, raw);
        // The value's type follows the option, which TypeScript cannot see through the table; set() checks it against the key's schema.
        await core.settings.set(invocation, level, key, value as never);
        await reply(`\`${options.option}\` for ${scopeWords(level)} is now ${String(options.value)}.`, { ephemeral: true });
      },
    }),
    reset: defineSubcommand({
      description: 'Go back to the inherited model settings (admins)',
      admin: true,
      options: z.object({ scope: scopeOption }),
      async execute({ options, invocation, core, reply }) {
        const level = levelOf(options.scope);
        await core.settings.reset(invocation, level, ['model', 'fallbackModels', 'providerSort', 'providerOrder']);
        const s = await core.settings.resolve(invocation);
        await reply(`Model settings for ${scopeWords(level)} reset; the model here is now \`${s.model.value}\` (${s.model.source}).`, {
          ephemeral: true,
        });
      },
    }),
  },
});
