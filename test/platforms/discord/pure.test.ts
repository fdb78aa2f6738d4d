/**
 * The adapter's pure parts: command JSON, autocomplete choices, history
 * clean-up and button ids.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commands } from '../../../commands/index.ts';
import { defineCommand, defineSubcommand, withHints } from '../../../src/core/commands.ts';
import { formatFooter } from '../../../src/core/pipeline.ts';
import { rejectOnRateLimit } from '../../../src/platforms/discord/adapter.ts';
import { modelChoice } from '../../../src/platforms/discord/autocomplete.ts';
import { commandJson, commandsHash, commandsJson, CommandJsonError } from '../../../src/platforms/discord/command-json.ts';
import { answerText, hasFooter, stripBotMention, threadStarterText, toHistory, type RawMessage } from '../../../src/platforms/discord/history.ts';
import { threadName } from '../../../src/platforms/discord/interactions.ts';
import { buttonId, buttonRow, parseButtonId } from '../../../src/platforms/discord/surface.ts';

const noop = async () => undefined;

describe('command JSON', () => {
  it('maps option kinds, limits, choices and autocomplete; required options first', () => {
    const json = commandJson(
      defineCommand({
        name: 'demo',
        description: 'x'.repeat(150),
        options: z.object({
          note: z.string().max(300).optional().describe('A note'),
          count: z.number().int().min(1).max(10).describe('How many'),
          ratio: z.number().min(0).max(2).optional(),
          loud: z.boolean().optional(),
          size: z.enum(['s', 'm', 'l']),
          model: withHints(z.string().optional().describe('Model'), { autocomplete: 'model' }),
        }),
        execute: noop,
      }),
    );
    expect(json.description).toHaveLength(100);
    expect(json.default_member_permissions).toBeNull();
    expect(json.options).toEqual([
      { type: 4, name: 'count', description: 'How many', required: true, min_value: 1, max_value: 10 },
      { type: 3, name: 'size', description: 'size', required: true, choices: [{ name: 's', value: 's' }, { name: 'm', value: 'm' }, { name: 'l', value: 'l' }] },
      { type: 3, name: 'note', description: 'A note', required: false, max_length: 300 },
      { type: 10, name: 'ratio', description: 'ratio', required: false, min_value: 0, max_value: 2 },
      { type: 5, name: 'loud', description: 'loud', required: false },
      { type: 3, name: 'model', description: 'Model', required: false, autocomplete: true },
    ]);
  });

  it('builds subcommands; a command is admin-only (Manage Guild) when all of it is', () => {
    const mixed = commandJson(
      defineCommand({
        name: 'thing',
        description: 'Things',
        subcommands: {
          show: defineSubcommand({ description: 'Show', execute: noop }),
          set: defineSubcommand({ description: 'Set', admin: true, options: z.object({ value: z.string() }), execute: noop }),
        },
      }),
    );
    expect(mixed.default_member_permissions).toBeNull();
    expect(mixed.options).toEqual([
      { type: 1, name: 'show', description: 'Show', options: [] },
      { type: 1, name: 'set', description: 'Set', options: [{ type: 3, name: 'value', description: 'value', required: true }] },
    ]);
    const json = commandsJson(commands);
    expect(json.find((c) => c.name === 'quota')!.default_member_permissions).toBe('32');
    for (const command of json) expect(command.contexts).toEqual([0, 1]);
  });

  it('refuses names Discord would refuse, and duplicates', () => {
    expect(() => commandJson(defineCommand({ name: 'Bad Name', description: 'x', execute: noop }))).toThrow(CommandJsonError);
    const ok = defineCommand({ name: 'ok', description: 'x', execute: noop });
    expect(() => commandsJson([ok, ok])).toThrow(/defined twice/);
  });

  it('hashes the JSON and the target', () => {
    const json = commandsJson(commands);
    const a = commandsHash(json, { applicationId: '1' });
    expect(commandsHash(json, { applicationId: '1' })).toBe(a);
    expect(commandsHash(json, { applicationId: '1', guildId: '2' })).not.toBe(a);
    expect(commandsHash(json.slice(1), { applicationId: '1' })).not.toBe(a);
  });
});

describe('autocomplete choices', () => {
  it('shows the id and the price per 1M tokens within 100 characters', () => {
    expect(modelChoice({ id: 'openai/gpt-4o-mini', isFree: false, pricing: { prompt: 0.00000015, completion: 0.0000006, request: 0 } })).toEqual({
      name: 'openai/gpt-4o-mini · $0.15 in / $0.60 out per 1M tokens',
      value: 'openai/gpt-4o-mini',
    });
    const long = modelChoice({ id: `vendor/${'x'.repeat(90)}`, isFree: true, pricing: { prompt: 0, completion: 0, request: 0 } })!;
    expect(long.name.length).toBeLessThanOrEqual(100);
    expect(long.name).toMatch(/… · free$/);
    expect(modelChoice({ id: 'x'.repeat(101), isFree: true, pricing: { prompt: 0, completion: 0, request: 0 } })).toBeUndefined();
    expect(modelChoice({ id: 'openrouter/auto', isFree: false, pricing: { prompt: -1, completion: -1, request: 0 } })!.name).toBe('openrouter/auto · price varies');
  });
});

describe('history', () => {
  const footer = formatFooter({
    modelAnswered: 'openai/gpt-4o-mini',
    modelRequested: 'openai/gpt-4o-mini',
    isFallback: false,
    usage: { promptTokens: 12_345, completionTokens: 67, costUsd: 0.00012, costSource: 'reported' } as never,
    ms: 1234,
  });

  it("recognises the renderer's footer and strips it, error lines and the cursor from answers", () => {
    expect(hasFooter(`Answer\n\n${footer}`)).toBe(true);
    expect(hasFooter(`Answer\n\n${footer} · dropped 2 earlier messages to fit`)).toBe(true);
    expect(hasFooter('Answer ▍')).toBe(false);
    expect(answerText(`Answer\n\n${footer}`)).toBe('Answer');
    expect(answerText(`Partial\n\n⚠️ The model failed.\n\n${footer}`)).toBe('Partial');
    expect(answerText('Still streaming ▍')).toBe('Still streaming');
  });

  it('turns messages into history: bot pieces joined, other bots skipped, mentions stripped, thread starters read back', () => {
    const at = '2025-01-01T00:00:00.000Z';
    const msg = (id: string, author: RawMessage['author'], content: string): RawMessage => ({ id, channel_id: 'c', content, timestamp: at, author });
    const bot = { id: '900', username: 'bot', bot: true };
    const alice = { id: '100', username: 'alice', global_name: 'Alice' };
    const history = toHistory(
      [
        msg('0', bot, threadStarterText('100', 'first question')),
        msg('1', alice, '<@900> hello there'),
        msg('2', bot, 'part one'),
        msg('3', bot, `part two\n\n${footer}`),
        msg('4', { id: 'X', username: 'other', bot: true }, 'noise'),
        msg('5', bot, '…thinking'),
      ],
      '900',
    );
    expect(history.map(({ role, text, authorId }) => ({ role, text, authorId }))).toEqual([
      { role: 'user', text: 'first question', authorId: '100' },
      { role: 'user', text: 'hello there', authorId: '100' },
      { role: 'assistant', text: 'part one\npart two', authorId: undefined },
    ]);
    expect(stripBotMention('<@!900> hi <@900>', '900')).toBe('hi');
  });

  it('names threads after the prompt within 100 characters', () => {
    expect(threadName('  what   is\nthis?  ')).toBe('what is this?');
    expect(threadName('y'.repeat(300))).toHaveLength(90);
    expect(threadName('   ')).toBe('Conversation');
  });
});

describe('buttons and rate limits', () => {
  it('round-trips button ids and builds one action row', () => {
    expect(parseButtonId(buttonId('stop', 'abc-123'))).toEqual({ action: 'stop', requestId: 'abc-123' });
    expect(parseButtonId('other:thing')).toBeUndefined();
    expect(buttonRow([], 'r')).toEqual([]);
    expect(buttonRow([{ id: 'stop', label: 'Stop' }], 'r')).toEqual([
      { type: 1, components: [{ type: 2, style: 4, label: 'Stop', custom_id: 'sb:stop:r' }] },
    ]);
  });

  it('makes discord.js throw on 429s for message writes only (the renderer paces those)', () => {
    const data = (method: string, route: string, global = false) => ({ method, route, global }) as never;
    expect(rejectOnRateLimit(data('PATCH', '/webhooks/:id/:token/messages/:id'))).toBe(true);
    expect(rejectOnRateLimit(data('PATCH', '/webhooks/:id/:token/messages/@original'))).toBe(true);
    expect(rejectOnRateLimit(data('POST', '/webhooks/:id/:token'))).toBe(true);
    expect(rejectOnRateLimit(data('POST', '/channels/:id/messages'))).toBe(true);
    expect(rejectOnRateLimit(data('PATCH', '/channels/:id/messages/:id'))).toBe(true);
    expect(rejectOnRateLimit(data('POST', '/channels/:id/messages', true))).toBe(false);
    expect(rejectOnRateLimit(data('POST', '/channels/:id/messages/:id/threads'))).toBe(false);
    expect(rejectOnRateLimit(data('GET', '/channels/:id/messages'))).toBe(false);
    expect(rejectOnRateLimit(data('PUT', '/applications/:id/commands'))).toBe(false);
  });
});
