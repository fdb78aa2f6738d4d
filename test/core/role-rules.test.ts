/**
 * Who may use what, by role: who may ask in a channel, who may pick their own
 * model, who may have a tool called for them. Each refusal names its rule.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Invocation } from '../../src/core/commands.ts';
import type { RoleRef } from '../../src/core/roles.ts';
import { createHarness, type Harness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ROLES: Record<string, RoleRef> = { staff: { id: 'r-staff', name: 'staff' }, leads: { id: 'r-leads', name: 'leads' } };
const admin = { id: 'u9', name: 'Grace', admin: true };
const ada = { id: 'uada', name: 'Ada' };
const bob = { id: 'ubob', name: 'Bob' };
const carol = { id: 'ucarol', name: 'Carol' };

describe('role rules', () => {
  let app: TestApp;
  let h: Harness;
  let failLookups: boolean;
  const memberships: Record<string, string[]> = { uada: ['staff', 'leads'], ubob: ['staff'], ucarol: [] };
  const roles: Partial<Invocation> = {
    rolesOf: async (userId) => {
      if (failLookups) throw new Error('platform said 503');
      return (memberships[userId] ?? []).map((n) => ROLES[n]!);
    },
    findRole: async (ref) => ROLES[ref.trim()],
  };
  const run = (user: { id: string; name: string; admin?: boolean }, name: string, sub: string | undefined, options: Record<string, unknown>) => h.run(user, name, sub, options, roles);

  beforeEach(async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'calculator' } });
    h = createHarness(app.core);
    failLookups = false;
  });
  afterEach(async () => {
    await app.close();
  });

  it('allowed-roles: only members (and admins) may ask here; the refusal names the rule', async () => {
    await run(admin, 'model', 'option', { option: 'allowed-roles', value: 'staff' });
    expect(h.lastReply()).toBe('`allowed-roles` for this channel is now staff.');
    await run(carol, 'ask', undefined, { prompt: 'hi' });
    expect(h.lastReply()).toBe('Asking here is limited to members of staff (`/model option allowed-roles`); you are not one of them.');
    expect(app.openrouter.chatRequests()).toHaveLength(0);
    await run(bob, 'ask', undefined, { prompt: 'hi' });
    await run(admin, 'ask', undefined, { prompt: 'hi' });
    expect(app.openrouter.chatRequests()).toHaveLength(2);
    await run(admin, 'model', 'option', { option: 'allowed-roles', value: 'nobody' });
    expect(h.lastReply()).toContain('There is no role `nobody` here.');
    await run(admin, 'model', 'option', { option: 'allowed-roles', value: 'everyone' });
    await run(carol, 'ask', undefined, { prompt: 'hi' });
    expect(app.openrouter.chatRequests()).toHaveLength(3);
  });

  it('a failed role lookup is said in the refusal, not silent', async () => {
    await run(admin, 'model', 'option', { option: 'allowed-roles', value: 'staff' });
    failLookups = true;
    await run(bob, 'ask', undefined, { prompt: 'hi' });
    expect(h.lastReply()).toContain('your roles could not be read just now: platform said 503');
  });

  it('user-choice-roles: only members may pick their own model', async () => {
    await run(admin, 'model', 'option', { option: 'user-choice', value: 'on' });
    await run(admin, 'model', 'option', { option: 'user-choice-roles', value: 'leads' });
    await run(bob, 'ask', undefined, { prompt: 'hi', model: 'anthropic/claude-3.5-sonnet' });
    expect(h.lastReply()).toBe('Picking your own model here is limited to members of leads (`/model option user-choice-roles`); leave `model` out.');
    await run(ada, 'ask', undefined, { prompt: 'hi', model: 'anthropic/claude-3.5-sonnet' });
    expect(app.openrouter.chatRequests().at(-1)!.body!.model).toBe('anthropic/claude-3.5-sonnet');
  });

  it('/tools option <tool> roles: the model is told the tool is not for this asker', async () => {
    await run(admin, 'tools', 'option', { tool: 'calculator', setting: 'roles', value: 'leads' });
    expect(h.lastReply()).toContain('`calculator` may only be used for members of leads in this channel');
    await run(bob, 'tools', 'list', {});
    expect(h.lastReply()).toContain('✅ `calculator` _(only leads)_');
    const script = () =>
      app.openrouter.enqueue(
        { toolCalls: [{ id: 'c1', name: 'calculator', arguments: '{"expression":"6*7"}' }], usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0 } },
        { text: ['ok'], usage: { prompt_tokens: 20, completion_tokens: 3, cost: 0 } },
      );
    const toolResult = () => app.openrouter.chatRequests().at(-1)!.body!.messages.find((m) => m.role === 'tool')?.content;
    script();
    await run(bob, 'ask', undefined, { prompt: 'six times seven' });
    expect(toolResult()).toContain('calculator may only be used for members of leads (/tools option calculator roles)');
    script();
    await run(ada, 'ask', undefined, { prompt: 'six times seven' });
    expect(toolResult()).toContain('42');
    await run(admin, 'tools', 'option', { tool: 'calculator', setting: 'roles', value: 'everyone' });
    script();
    await run(bob, 'ask', undefined, { prompt: 'six times seven' });
    expect(toolResult()).toContain('42');
  });
});
