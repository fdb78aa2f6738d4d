/**
 * The adapter's pure parts: command JSON, autocomplete choices, history
 * clean-up and button ids.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commands } from '../../../commands/index.ts';
import { defineCommand, defineSubcommand, withHints } from '../../../src/core/commands.ts';
import { formatFooterText, type AnswerFooter } from '../../../src/core/answer-view.ts';
import type { AnswerRecord } from '../../../src/store/types.ts';
import { rejectOnRateLimit } from '../../../src/platforms/discord/adapter.ts';
import { modelChoice } from '../../../src/platforms/discord/autocomplete.ts';
import { commandJson, commandsHash, commandsJson, CommandJsonError } from '../../../src/platforms/discord/command-json.ts';
import { threadName, threadStarterText } from '../../../src/platforms/discord/answer-thread.ts';
import { stripBotMention, toHistory, type RawMessage } from '../../../src/platforms/discord/history.ts';
import { interruptedContent } from '../../../src/platforms/discord/mark-interrupted.ts';
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
    for (const command of json) expect(command).toMatchObject({ contexts: [0, 1, 2], integration_types: [0, 1] });
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
  const footer: AnswerFooter = {
    model: 'openai/gpt-4o-mini',
    modelRequested: 'openai/gpt-4o-mini',
    isFallback: false,
    tokensIn: 12_345,
    tokensOut: 67,
    costUsd: 0.00012,
    ms: 1234,
    trimmed: 0,
  };
  const at = '2025-01-01T00:00:00.000Z';
  const msg = (id: string, author: RawMessage['author'], content: string, channel = 'c'): RawMessage => ({ id, channel_id: channel, content, timestamp: at, author });
  const bot = { id: '900', username: 'bot', bot: true };
  const alice = { id: '100', username: 'alice', global_name: 'Alice' };
  const record = (messageId: string, fields: Partial<AnswerRecord>): AnswerRecord => ({
    platform: 'discord',
    channelId: 'c',
    messageId,
    requestId: 'r1',
    kind: 'answer',
    text: '',
    askerId: '100',
    askerName: 'Alice',
    prompt: 'the question',
    at: new Date(at),
    ...fields,
  });

  it('turns messages into history from records: answer pieces joined, other bots and unrecorded bot messages skipped, mentions stripped, thread starters read back', () => {
    const records = new Map([
      ['0', record('0', { kind: 'question', requestId: null, text: 'first question' })],
      ['2', record('2', { text: 'part one' })],
      ['3', record('3', { text: 'part two' })],
    ]);
    const history = toHistory(
      [
        msg('0', bot, threadStarterText('100', 'first question')),
        msg('1', alice, '<@900> hello there'),
        msg('2', bot, 'part one'),
        msg('3', bot, `part two\n\n${formatFooterText(footer)}`),
        msg('4', { id: 'X', username: 'other', bot: true }, 'noise'),
        msg('5', bot, '…thinking'),
        msg('6', bot, 'A notice the bot wrote, with no record'),
      ],
      '900',
      records,
    );
    expect(history.map(({ role, text, authorId, authorName }) => ({ role, text, authorId, authorName }))).toEqual([
      { role: 'user', text: 'first question', authorId: '100', authorName: 'Alice' },
      { role: 'user', text: 'hello there', authorId: '100', authorName: 'Alice' },
      { role: 'assistant', text: 'part one\npart two', authorId: undefined, authorName: undefined },
    ]);
    expect(stripBotMention('<@!900> hi <@900>', '900')).toBe('hi');
  });

  it('never contains our footer or status, whatever their wording (the text comes from records)', () => {
    const shown = [
      `The answer ▍\n\n🔧 Using the calculator…`,
      `The answer\n\n⚠️ Something new went wrong.\n\nmodel=gpt · 12 tokens in, 3 out · free · took 1.2 seconds`,
      `The answer\n\n— answered by a model with a brand-new footer wording —`,
    ];
    for (const content of shown) {
      const history = toHistory([msg('1', alice, 'q'), msg('2', bot, content)], '900', new Map([['2', record('2', { text: 'The answer' })]]));
      expect(history.at(-1)).toMatchObject({ role: 'assistant', text: 'The answer' });
    }
  });

  it('puts the question of an /ask answer at the root of a reply chain before it, from its record', () => {
    const history = toHistory(
      [msg('1', bot, 'Blue.'), msg('2', alice, 'another one')],
      '900',
      new Map([['1', record('1', { text: 'Blue.', prompt: 'name a colour' })]]),
      { questionAtRoot: true },
    );
    expect(history.map(({ role, text, authorId }) => ({ role, text, authorId }))).toEqual([
      { role: 'user', text: 'name a colour', authorId: '100' },
      { role: 'assistant', text: 'Blue.', authorId: undefined },
      { role: 'user', text: 'another one', authorId: '100' },
    ]);
  });

  it('keeps two answers in a row apart', () => {
    const history = toHistory(
      [msg('1', bot, 'one'), msg('2', bot, 'two')],
      '900',
      new Map([
        ['1', record('1', { text: 'one', requestId: 'a' })],
        ['2', record('2', { text: 'two', requestId: 'b' })],
      ]),
    );
    expect(history.map((m) => m.text)).toEqual(['one', 'two']);
  });

  it('names threads after the prompt within 100 characters', () => {
    expect(threadName('  what   is\nthis?  ')).toBe('what is this?');
    expect(threadName('y'.repeat(300))).toHaveLength(90);
    expect(threadName('   ')).toBe('Conversation');
  });
});

describe('an interrupted answer', () => {
  it('shows the recorded body, then the note; with no body only the note; never over 2000 characters', () => {
    expect(interruptedContent({ body: 'Half an answer', note: '(interrupted)' })).toBe('Half an answer\n\n(interrupted)');
    expect(interruptedContent({ body: null, note: '(interrupted)' })).toBe('(interrupted)');
    const long = interruptedContent({ body: 'x'.repeat(5000), note: '(interrupted)' });
    expect(long).toHaveLength(2000);
    expect(long.endsWith('…\n\n(interrupted)')).toBe(true);
  });
});

describe('buttons and rate limits', () => {
  it('round-trips button ids and builds one action row', () => {
    expect(parseButtonId(buttonId('stop', 'abc-123'))).toEqual({ action: 'stop', requestId: 'abc-123' });
    expect(parseButtonId('sb:share:abc-123')).toEqual({ action: 'share', requestId: 'abc-123' });
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
