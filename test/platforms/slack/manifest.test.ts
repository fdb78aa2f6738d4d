import { describe, expect, it } from 'vitest';
import { commands } from '../../../commands/index.ts';
import { buildSlackManifest, parseManifestArgs, SLACK_BOT_SCOPES, usageHint } from '../../../src/platforms/slack/manifest.ts';

type Manifest = {
  display_information: { name: string };
  features: {
    slash_commands: Array<{ command: string; description: string; usage_hint?: string; url?: string; should_escape: boolean }>;
    app_home: { messages_tab_enabled: boolean; home_tab_enabled: boolean };
    assistant_view: { assistant_description: string; suggested_prompts: Array<{ title: string; message: string }> };
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: { event_subscriptions: { request_url?: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url?: string }; socket_mode_enabled: boolean };
};

describe('Slack app manifest', () => {
  it('lists every slash command with its description and usage hint (Socket Mode)', () => {
    const manifest = buildSlackManifest({ socketMode: true }) as Manifest;
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual(commands.map((c) => `/${c.name}`));
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual(['/ask', '/image', '/model', '/models', '/prompt', '/tools', '/usage', '/quota', '/new', '/stop']);
    const ask = manifest.features.slash_commands[0]!;
    expect(ask).toMatchObject({ description: 'Ask the model; the answer streams in', usage_hint: '<prompt> [model] [private]', should_escape: true });
    expect(ask.url).toBeUndefined();
    expect(manifest.features.slash_commands.find((c) => c.command === '/image')).toMatchObject({ description: "Draw a picture with this channel's image model", usage_hint: '<prompt> [model]' });
    expect(manifest.features.slash_commands.find((c) => c.command === '/model')!.usage_hint).toMatch(/^show \| set <model> \[scope\]/);
    for (const command of manifest.features.slash_commands) expect(command.description.length).toBeLessThanOrEqual(100);
    expect(manifest.settings.socket_mode_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions).toEqual({
      bot_events: ['app_mention', 'message.im', 'assistant_thread_started', 'assistant_thread_context_changed', 'app_home_opened'],
    });
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true });
    expect(manifest.features.app_home.messages_tab_enabled).toBe(true);
  });

  it('has the bot scopes the adapter uses', () => {
    const manifest = buildSlackManifest({ socketMode: true }) as Manifest;
    expect(manifest.oauth_config.scopes.bot).toEqual([...SLACK_BOT_SCOPES]);
    for (const scope of ['app_mentions:read', 'chat:write', 'commands', 'im:history', 'im:read', 'im:write', 'channels:history', 'groups:history', 'users:read', 'assistant:write', 'files:write']) {
      expect(manifest.oauth_config.scopes.bot).toContain(scope);
    }
  });

  it('points commands, events and interactivity at the request URL in HTTP mode', () => {
    const url = 'https://bot.example.com/slack/events';
    const manifest = buildSlackManifest({ socketMode: false, requestUrl: url, name: 'Ops Bot' }) as Manifest;
    expect(manifest.display_information.name).toBe('Ops Bot');
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.settings.event_subscriptions.request_url).toBe(url);
    expect(manifest.settings.interactivity.request_url).toBe(url);
    for (const command of manifest.features.slash_commands) expect(command.url).toBe(url);
    expect(() => buildSlackManifest({ socketMode: false })).toThrow(/request URL/);
  });

  it('reads the CLI arguments', () => {
    expect(parseManifestArgs([])).toEqual({ socketMode: true, requestUrl: undefined, name: undefined });
    expect(parseManifestArgs(['--request-url', 'https://x.example/slack/events'])).toMatchObject({ socketMode: false, requestUrl: 'https://x.example/slack/events' });
    expect(parseManifestArgs(['--request-url=https://x.example/e', '--name', 'Bot'])).toMatchObject({ requestUrl: 'https://x.example/e', name: 'Bot' });
    expect(() => parseManifestArgs(['--bogus'])).toThrow(/Unknown argument/);
    expect(() => parseManifestArgs(['--request-url', 'ftp://x'])).toThrow(/http/);
  });

  it('turns on the Home tab and the assistant view with its suggested prompts and scopes', () => {
    const manifest = buildSlackManifest({ socketMode: true, suggestedPrompts: ['Summarise the release notes', 'What changed in the API?'] }) as Manifest;
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    expect(manifest.features.assistant_view.suggested_prompts).toEqual([
      { title: 'Summarise the release notes', message: 'Summarise the release notes' },
      { title: 'What changed in the API?', message: 'What changed in the API?' },
    ]);
    expect(manifest.features.assistant_view.assistant_description).not.toBe('');
    expect(manifest.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['assistant:write', 'files:write', 'im:history']));
    expect((buildSlackManifest({ socketMode: true }) as Manifest).features.assistant_view.suggested_prompts).toHaveLength(4);
  });

  it('puts SLACK_COMMAND_PREFIX before every command name', () => {
    const manifest = buildSlackManifest({ socketMode: true, commandPrefix: 'sb-' }) as Manifest;
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual(commands.map((c) => `/sb-${c.name}`));
    expect(manifest.features.slash_commands[0]!.usage_hint).toBe('<prompt> [model] [private]');
    expect(parseManifestArgs(['--command-prefix', 'sb-'])).toMatchObject({ commandPrefix: 'sb-' });
    expect(() => parseManifestArgs(['--command-prefix', 'SB/'])).toThrow(/command-prefix/);
  });

  it('writes usage hints from the command options', () => {
    const stop = commands.find((c) => c.name === 'stop')!;
    expect(usageHint(stop)).toBe('');
    expect(buildSlackManifest({ socketMode: true }).features).toBeDefined();
  });
});
