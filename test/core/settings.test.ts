import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { defaultSettings, SettingsService, type Place } from '../../src/core/settings.ts';
import { createStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

const thread: Place = { platform: 'discord', workspaceId: 'g1', channelId: 'thread-1', parentChannelId: 'chan-1' };
const channel: Place = { platform: 'discord', workspaceId: 'g1', channelId: 'chan-1' };
const otherGuild: Place = { platform: 'discord', workspaceId: 'g2', channelId: 'chan-1' };

describe('settings resolution', () => {
  let store: Store;
  let settings: SettingsService;
  beforeEach(async () => {
    store = await createStore('sqlite::memory:', { logger: pino({ level: 'silent' }) });
    await store.migrate();
    const config = parseConfig({ OPENROUTER_API_KEY: 'sk-test-123456', DEFAULT_MODEL: 'env/model', DEFAULT_MAX_TOKENS: '500' });
    settings = new SettingsService(store, defaultSettings(config));
  });
  afterEach(async () => {
    await store.close();
  });

  it('falls back to the environment defaults, saying so', async () => {
    const s = await settings.resolve(thread);
    expect(s.model).toEqual({ value: 'env/model', source: 'default' });
    expect(s.maxTokens).toEqual({ value: 500, source: 'default' });
  });

  it('resolves channel, then parent channel, then server, then default, per value', async () => {
    await settings.set(channel, 'server', 'model', 'server/model');
    await settings.set(channel, 'server', 'temperature', 0.3);
    await settings.set(channel, 'channel', 'model', 'parent/model');
    await settings.set(thread, 'channel', 'systemPrompt', 'thread prompt');

    const s = await settings.resolve(thread);
    expect(s.model).toEqual({ value: 'parent/model', source: 'parent channel' });
    expect(s.temperature).toEqual({ value: 0.3, source: 'server' });
    expect(s.systemPrompt).toEqual({ value: 'thread prompt', source: 'channel' });
    expect(s.maxTokens.source).toBe('default');

    const c = await settings.resolve(channel);
    expect(c.model).toEqual({ value: 'parent/model', source: 'channel' });
    expect(c.systemPrompt.source).toBe('default');
    // Another guild's channel with the same id shares nothing.
    expect((await settings.resolve(otherGuild)).model.source).toBe('default');
  });

  it('resets a level back to what it inherits', async () => {
    await settings.set(channel, 'server', 'model', 'server/model');
    await settings.set(channel, 'channel', 'model', 'chan/model');
    await settings.reset(channel, 'channel', ['model']);
    expect((await settings.resolve(channel)).model).toEqual({ value: 'server/model', source: 'server' });
  });

  it('rejects values of the wrong shape and ignores stored garbage', async () => {
    await expect(settings.set(channel, 'channel', 'maxTokens', -5)).rejects.toThrow();
    await store.setSetting({ platform: 'discord', kind: 'channel', id: 'g1/chan-1' }, 'maxTokens', 'lots');
    expect((await settings.resolve(channel)).maxTokens.source).toBe('default');
  });
});
