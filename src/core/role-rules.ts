/**
 * Who may use what, by role (Discord) or user group (Slack): who may ask in a
 * channel, who may pick their own model, who may have a tool called for them.
 * Each refusal names the rule. Admins are never held back by these rules.
 */
import type { Hooks } from '../tools/types.ts';
import type { Invocation } from './commands.ts';
import type { Core } from './core.ts';
import { UserFacingError } from './errors.ts';
import { roleWordsOf, type RoleRef, type UserRoles } from './roles.ts';

/** `everyone`, or roles by name, mention or id separated by commas. */
export async function parseRoleList(invocation: Invocation, raw: string, option: string): Promise<RoleRef[]> {
  const text = raw.trim();
  if (/^everyone$/i.test(text)) return [];
  const { noun } = roleWordsOf(invocation);
  if (!invocation.findRole || invocation.isDm) throw new UserFacingError('bad-input', `\`${option}\` needs ${noun}s, which this place does not have; use \`everyone\`.`);
  const refs = [...new Set(text.split(',').map((r) => r.trim()).filter(Boolean))];
  if (refs.length === 0) throw new UserFacingError('bad-input', `\`${option}\` takes ${noun}s separated by commas, or \`everyone\`.`);
  const roles: RoleRef[] = [];
  for (const ref of refs) {
    const role = await invocation.findRole(ref);
    if (!role) throw new UserFacingError('not-found', `There is no ${noun} \`${ref.slice(0, 60)}\` here.`);
    if (!roles.some((r) => r.id === role.id)) roles.push(role);
  }
  return roles;
}

export function roleNames(roles: readonly RoleRef[]): string {
  return roles.map((r) => r.name).join(', ');
}

export function isMemberOfAny(user: UserRoles, allowed: readonly RoleRef[]): boolean {
  return allowed.length === 0 || user.roles.some((r) => allowed.some((a) => a.id === r.id));
}

/** What a refusal adds when the asker's roles could not be read. */
export function lookupNote(user: UserRoles): string {
  return user.lookupFailed ? ` (your roles could not be read just now: ${user.lookupFailed}; try again shortly)` : '';
}

/** The refusal for a channel limited by allowed-roles. */
export function notAllowedHere(allowed: readonly RoleRef[], user: UserRoles): UserFacingError {
  return new UserFacingError('not-allowed', `Asking here is limited to members of ${roleNames(allowed)} (\`/model option allowed-roles\`); you are not one of them${lookupNote(user)}.`);
}

/** The refusal for picking a model outside user-choice-roles. */
export function mayNotPickModel(allowed: readonly RoleRef[], user: UserRoles): UserFacingError {
  return new UserFacingError('not-allowed', `Picking your own model here is limited to members of ${roleNames(allowed)} (\`/model option user-choice-roles\`)${lookupNote(user)}; leave \`model\` out.`);
}

/** Tools limited by /tools option <tool> roles: the call is refused (the model is told which rule) for anyone else. */
export function toolRoleHooks(core: Core): Hooks {
  return {
    async beforeToolCall(call, ctx) {
      const tool = core.registry.get(call.name);
      if (!tool) return;
      const target = core.pipeline.approvalTarget(ctx.requestId);
      const place = target?.place ?? ctx;
      const settings = await core.settings.resolve({ platform: place.platform, workspaceId: place.workspaceId, channelId: place.channelId, ...('parentChannelId' in place && place.parentChannelId ? { parentChannelId: place.parentChannelId } : {}) });
      const rules = settings.toolRoles.value;
      const allowed = rules[tool.name] ?? rules[`${tool.name.split('.')[0]}.*`] ?? [];
      if (allowed.length === 0) return;
      const user = await core.membership.rolesOf({ platform: ctx.platform, workspaceId: ctx.workspaceId, userId: ctx.userId }, undefined);
      if (isMemberOfAny(user, allowed)) return;
      if (target && (await target.isAdmin())) return;
      return {
        action: 'deny',
        reason: `${tool.name} may only be used for members of ${roleNames(allowed)} (/tools option ${tool.name} roles), and the person asking is not one${user.lookupFailed ? ' (their roles could not be read just now)' : ''}; it did not run. Tell them so.`,
      };
    },
  };
}
