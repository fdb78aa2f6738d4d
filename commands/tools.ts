import { z } from 'zod';
import { defineCommand, defineSubcommand, withHints, type CommandContext } from '../src/core/commands.ts';
import type { Core } from '../src/core/core.ts';
import { UserFacingError } from '../src/core/errors.ts';
import { SERVER_TOOLS } from '../src/core/server-tools.ts';
import type { Invocation } from '../src/core/commands.ts';
import { parseRoleList, roleNames } from '../src/core/role-rules.ts';

/** The registry's tools and OpenRouter's server tools (web_search), by name. */
function allTools(core: Core): Array<{ name: string; description: string; destructive?: boolean }> {
  return [...core.registry.list(), ...SERVER_TOOLS].sort((a, b) => a.name.localeCompare(b.name));
}

const toolOption = z.object({
  tool: withHints(z.string().trim().min(1).describe('Tool name, or <server>.* for every tool of an MCP server (see /tools list)'), { autocomplete: 'tool' }),
});

/** A tool name or `<server>.*` the registry knows, or a message listing what there is. */
function checkToolName(core: Core, name: string): void {
  const server = name.endsWith('.*') ? name.slice(0, -2) : undefined;
  if (server !== undefined && core.registry.groups().some((g) => g.name === server)) return;
  if (allTools(core).some((t) => t.name === name)) return;
  const names = allTools(core).map((t) => t.name);
  const servers = core.registry.groups().map((g) => `${g.name}.*`);
  throw new UserFacingError('bad-input', `There is no tool \`${name.slice(0, 80)}\`. Tools: ${[...names, ...servers].join(', ') || 'none'}.`);
}

async function toggle(ctx: CommandContext<z.infer<typeof toolOption>>, enable: boolean): Promise<void> {
  const { options, invocation, core, reply } = ctx;
  checkToolName(core, options.tool);
  const current = (await core.settings.resolve(invocation)).tools.value;
  // Disabling one tool of an enabled `<server>.*` keeps the others: the pattern becomes their names.
  const expanded = !enable && !current.includes(options.tool) ? core.registry.expand(current) : current;
  const next = enable ? [...new Set([...current, options.tool])] : expanded.filter((t) => t !== options.tool);
  await core.settings.set(invocation, 'channel', 'tools', next);
  await reply(`\`${options.tool}\` is ${enable ? 'enabled' : 'disabled'} in this channel. Enabled: ${next.join(', ') || 'none'}.`, {
    ephemeral: true,
  });
}

const STATE_WORDS = {
  connecting: () => '🟡 connecting',
  connected: () => '🟢 connected',
  failing: (reason: string) => `🔴 failing: ${reason} (retrying on its own)`,
  closed: () => '⚪ closed',
} as const;

async function listLines(core: Core, invocation: Invocation): Promise<string[]> {
  const settings = await core.settings.resolve(invocation);
  const enabled = new Set(core.registry.expand(settings.tools.value));
  const confirm = new Set(core.registry.expand(settings.confirmTools.value));
  const roles = settings.toolRoles.value;
  const line = (t: { name: string; description: string; destructive?: boolean }) => {
    const limited = roles[t.name] ?? roles[`${t.name.split('.')[0]}.*`] ?? [];
    const marks = `${t.destructive || confirm.has(t.name) ? ' _(asks first)_' : ''}${limited.length > 0 ? ` _(only ${roleNames(limited)})_` : ''}`;
    return `${enabled.has(t.name) ? '✅' : '▫️'} \`${t.name}\`${marks}: ${t.description}`;
  };
  const plain = allTools(core).filter((t) => !t.name.includes('.'));
  const lines = plain.map(line);
  for (const group of core.registry.groups()) {
    const state = group.state.state === 'failing' ? STATE_WORDS.failing(group.state.reason) : STATE_WORDS[group.state.state]();
    lines.push('', `**MCP server \`${group.name}\`**: ${state}, ${group.tools} tool${group.tools === 1 ? '' : 's'}`);
    lines.push(...core.registry.list().filter((t) => t.name.startsWith(`${group.name}.`)).map(line));
  }
  return lines;
}

const HELP = [
  '**Tools** are functions a model may call while it answers. Admins enable them per channel:',
  '`/tools enable calculator`, `/tools enable github.search_issues`, or `/tools enable github.*` for every tool of a server.',
  '`/tools confirm <tool>` makes a tool run only after the asker presses **Allow** (tools a server marks destructive always ask).',
  '',
  '**Adding an MCP tool server** (operators): list it in the JSON file named by `MCP_SERVERS` and restart the bot:',
  '```json',
  '{ "servers": [',
  '  { "name": "dice", "command": "node", "args": ["--import", "tsx", "examples/mcp-dice-server.ts"] },',
  '  { "name": "docs", "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer …" } }',
  '] }',
  '```',
  'Its tools then appear here as `<server>.<tool>` with the server’s state. See the README, “MCP tool servers”.',
].join('\n');

export default defineCommand({
  name: 'tools',
  description: 'List, enable or disable the tools models may call here',
  subcommands: {
    list: defineSubcommand({
      description: 'List the tools, the MCP servers and which tools are enabled here',
      async execute({ invocation, core, reply }) {
        const lines = await listLines(core, invocation);
        await reply(lines.length > 0 ? lines.join('\n') : 'No tools are registered.', { ephemeral: true });
      },
    }),
    enable: defineSubcommand({
      description: 'Let models use a tool (or <server>.*) in this channel (admins)',
      admin: true,
      options: toolOption,
      execute: (ctx) => toggle(ctx, true),
    }),
    disable: defineSubcommand({
      description: 'Stop models using a tool in this channel (admins)',
      admin: true,
      options: toolOption,
      execute: (ctx) => toggle(ctx, false),
    }),
    confirm: defineSubcommand({
      description: 'Make a tool ask the asker first (Allow / Deny) in this channel, or stop asking (admins)',
      admin: true,
      options: toolOption.extend({
        ask: z.enum(['on', 'off']).default('on').describe('on: ask before each call; off: stop asking (destructive tools always ask)'),
      }),
      async execute({ options, invocation, core, reply }) {
        checkToolName(core, options.tool);
        const current = (await core.settings.resolve(invocation)).confirmTools.value;
        const next = options.ask === 'on' ? [...new Set([...current, options.tool])] : current.filter((t) => t !== options.tool);
        await core.settings.set(invocation, 'channel', 'confirmTools', next);
        const destructive = core.registry.get(options.tool)?.destructive === true;
        const note = options.ask === 'off' && destructive ? ' Its server marks it destructive, so it still asks.' : '';
        await reply(
          `\`${options.tool}\` ${options.ask === 'on' ? 'now runs only after the asker presses Allow' : 'no longer asks first'} in this channel.${note}`,
          { ephemeral: true },
        );
      },
    }),
    option: defineSubcommand({
      description: 'Limit who may have a tool called for them here: roles, or everyone (admins)',
      admin: true,
      options: toolOption.extend({
        setting: z.enum(['roles']).describe('Which option'),
        value: z.string().trim().min(1).describe('Roles (Slack: user groups) separated by commas, or "everyone"'),
      }),
      async execute({ options, invocation, core, reply }) {
        checkToolName(core, options.tool);
        const roles = await parseRoleList(invocation, options.value, 'roles');
        const current = { ...(await core.settings.resolve(invocation)).toolRoles.value };
        if (roles.length === 0) delete current[options.tool];
        else current[options.tool] = roles;
        await core.settings.set(invocation, 'channel', 'toolRoles', current);
        await reply(
          roles.length === 0
            ? `\`${options.tool}\` may be used for everyone in this channel.`
            : `\`${options.tool}\` may only be used for members of ${roleNames(roles)} in this channel; for anyone else the model is told it is not allowed.`,
          { ephemeral: true },
        );
      },
    }),
    help: defineSubcommand({
      description: 'How tools work and how to add an MCP tool server',
      async execute({ reply }) {
        await reply(HELP, { ephemeral: true });
      },
    }),
  },
});
