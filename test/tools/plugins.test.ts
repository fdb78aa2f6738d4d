import { resolve } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadPlugins, registerBuiltinTools } from '../../src/tools/plugins.ts';
import { ToolRegistry, toToolSpec } from '../../src/tools/registry.ts';

const logger = pino({ level: 'silent' });
const root = resolve(import.meta.dirname, '../..');

describe('plugins', () => {
  it('loads the example plugin: its tool and hook are registered', async () => {
    const registry = new ToolRegistry();
    registerBuiltinTools(registry);
    await loadPlugins(['./examples/dice-plugin.ts'], { registry, logger }, root);
    expect(registry.list().map((t) => t.name)).toEqual(['calculator', 'current_time', 'model_catalog', 'roll_dice']);
    const hook = registry.hooks()[0]!;
    const ctx = { requestId: 'r', platform: 'p', workspaceId: 'w', userId: 'u', catalog: undefined as never, now: () => new Date() };
    expect(await hook.beforeToolCall?.({ callId: 'c', name: 'roll_dice', args: {} }, { ...ctx, channelId: 'serious-business' })).toEqual({
      action: 'deny',
      reason: 'No dice in this channel.',
    });
    expect(await hook.beforeToolCall?.({ callId: 'c', name: 'roll_dice', args: {} }, { ...ctx, channelId: 'general' })).toBeUndefined();
    const dice = registry.get('roll_dice')!;
    const result = (await dice.execute({ count: 3, sides: 6 }, { ...ctx, channelId: 'x', signal: new AbortController().signal })) as {
      rolls: number[];
      total: number;
    };
    expect(result.rolls).toHaveLength(3);
    expect(result.rolls.every((r) => r >= 1 && r <= 6)).toBe(true);
    expect(result.total).toBe(result.rolls.reduce((a, b) => a + b, 0));
  });

  it('names the plugin that cannot be loaded or has no default export', async () => {
    const registry = new ToolRegistry();
    await expect(loadPlugins(['./nope/missing.ts'], { registry, logger }, root)).rejects.toThrow(/PLUGINS: cannot load "\.\/nope\/missing\.ts"/);
    await expect(loadPlugins(['./test/fixtures/no-default-plugin.ts'], { registry, logger }, root)).rejects.toThrow(
      /must export a default function/,
    );
  });

  it('rejects duplicate and malformed tool names', () => {
    const registry = new ToolRegistry();
    registerBuiltinTools(registry);
    expect(() => registerBuiltinTools(registry)).toThrow(/already registered/);
    expect(() => registry.register({ ...registry.get('calculator')!, name: 'has space' })).toThrow(/must be 1-64/);
  });

  it('turns zod input schemas into JSON schema with descriptions', () => {
    const registry = new ToolRegistry();
    registerBuiltinTools(registry);
    const spec = toToolSpec(registry.get('calculator')!);
    expect(spec.parameters).toMatchObject({
      type: 'object',
      properties: { expression: { type: 'string', description: expect.stringContaining('expression') } },
      required: ['expression'],
    });
    expect(spec.parameters).not.toHaveProperty('$schema');
  });
});
