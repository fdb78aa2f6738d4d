/**
 * Per-channel model settings, resolved channel -> parent channel (threads) ->
 * workspace/guild -> defaults from the environment. Each value knows its source.
 */
import { z } from 'zod';
import type { Config } from '../config.ts';
import type { SettingsScope, Store } from '../store/types.ts';

/** Where a conversation happens. */
export interface Place {
  platform: string;
  workspaceId: string;
  channelId: string;
  /** The channel a thread lives in. */
  parentChannelId?: string;
  /** A direct message with the bot (governed by the bot's own admins; see ALLOW_DMS). */
  isDm?: boolean;
}

/** Every direct message on a platform is one pseudo-workspace, whatever server or team the user comes from. */
export const DM_WORKSPACE = '@me';

/** A role (user group) as stored in a rule: its id, and its name when set (for messages). */
const roleRefSchema = z.object({ id: z.string(), name: z.string() });

export const settingSchemas = {
  model: z.string(),
  fallbackModels: z.array(z.string()),
  providerSort: z.enum(['price', 'throughput', 'latency']).nullable(),
  providerOrder: z.array(z.string()),
  systemPrompt: z.string(),
  temperature: z.number().min(0).max(2).nullable(),
  maxTokens: z.number().int().positive(),
  tools: z.array(z.string()),
  allowUserModel: z.boolean(),
  threadPerConversation: z.boolean(),
  /** OpenRouter's `reasoning.effort`, sent only to models that list `reasoning`; null sends nothing. */
  reasoningEffort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable(),
  /** How a thinking model's reasoning shows: a status line while it thinks, also kept as a spoiler, or only the time. */
  reasoningDisplay: z.enum(['hidden', 'status', 'spoiler']),
  /** Domains web search may use; empty: any. */
  webSearchDomains: z.array(z.string()),
  privacy: z.enum(['zdr', 'no-training', 'default']),
  /** Tools (or `<server>.*`) that run only after the asker presses Allow (/tools confirm), beside those a server marks destructive. */
  confirmTools: z.array(z.string()),
  /** Who may ask here (/model option allowed-roles); empty: everyone. */
  allowedRoles: z.array(roleRefSchema),
  /** Who may pick their own model in /ask where user choice is on (/model option user-choice-roles); empty: everyone. */
  userChoiceRoles: z.array(roleRefSchema),
  /** Per tool, who may have it called for them (/tools option <tool> roles); absent or empty: everyone. */
  toolRoles: z.record(z.string(), z.array(roleRefSchema)),
  /** The model `/image` draws with (one whose catalog lists image output); null: `/image` is off. */
  imageModel: z.string().nullable(),
  /** OpenRouter's file-parser engine for PDFs; `default` lets OpenRouter pick. */
  pdfEngine: z.enum(['native', 'cloudflare-ai', 'mistral-ocr', 'default']),
  /** Answers questions with images when the channel's model cannot see them; null: such questions are refused with suggestions. */
  visionModel: z.string().nullable(),
} as const;

export type SettingKey = keyof typeof settingSchemas;
export type ChannelSettings = { [K in SettingKey]: z.infer<(typeof settingSchemas)[K]> };
export type SettingSource = 'channel' | 'parent channel' | 'server' | 'default';
export type ResolvedSettings = { [K in SettingKey]: { value: ChannelSettings[K]; source: SettingSource } };

export const SETTING_KEYS = Object.keys(settingSchemas) as SettingKey[];

export function defaultSettings(config: Config): ChannelSettings {
  return {
    model: config.defaults.model,
    fallbackModels: config.defaults.fallbackModels,
    providerSort: null,
    providerOrder: [],
    systemPrompt: config.defaults.systemPrompt,
    temperature: config.defaults.temperature ?? null,
    maxTokens: config.defaults.maxTokens,
    tools: config.defaults.tools,
    allowUserModel: false,
    threadPerConversation: false,
    reasoningEffort: null,
    reasoningDisplay: 'status',
    webSearchDomains: [],
    privacy: config.defaults.privacy,
    confirmTools: [],
    allowedRoles: [],
    userChoiceRoles: [],
    toolRoles: {},
    imageModel: null,
    pdfEngine: 'default',
    visionModel: null,
  };
}

export type SettingsLevel = 'channel' | 'server';

export function scopeFor(place: Place, level: SettingsLevel, channelId = place.channelId): SettingsScope {
  return level === 'server'
    ? { platform: place.platform, kind: 'workspace', id: place.workspaceId }
    : { platform: place.platform, kind: 'channel', id: `${place.workspaceId}/${channelId}` };
}

export class SettingsService {
  constructor(
    private readonly store: Store,
    private readonly defaults: ChannelSettings,
  ) {}

  async resolve(place: Place): Promise<ResolvedSettings> {
    const wanted: Array<[SettingSource, SettingsScope]> = [['channel', scopeFor(place, 'channel')]];
    if (place.parentChannelId && place.parentChannelId !== place.channelId) {
      wanted.push(['parent channel', scopeFor(place, 'channel', place.parentChannelId)]);
    }
    wanted.push(['server', scopeFor(place, 'server')]);
    const values = await this.store.getSettingsOf(wanted.map(([, scope]) => scope));
    const layers = wanted.map(([source], i): [SettingSource, Record<string, unknown>] => [source, values[i] ?? {}]);

    const resolved: Partial<Record<SettingKey, { value: unknown; source: SettingSource }>> = {};
    for (const key of SETTING_KEYS) {
      resolved[key] = { value: this.defaults[key], source: 'default' };
      for (const [source, values] of layers) {
        if (!(key in values)) continue;
        const parsed = settingSchemas[key].safeParse(values[key]);
        if (parsed.success) {
          resolved[key] = { value: parsed.data, source };
          break;
        }
      }
    }
    return resolved as ResolvedSettings;
  }

  async set<K extends SettingKey>(place: Place, level: SettingsLevel, key: K, value: ChannelSettings[K]): Promise<void> {
    const checked = settingSchemas[key].parse(value);
    await this.store.setSetting(scopeFor(place, level), key, checked);
  }

  async reset(place: Place, level: SettingsLevel, keys?: SettingKey[]): Promise<void> {
    await this.store.clearSettings(scopeFor(place, level), keys);
  }
}

export function plainSettings(resolved: ResolvedSettings): ChannelSettings {
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) out[key] = resolved[key].value;
  return out as ChannelSettings;
}
