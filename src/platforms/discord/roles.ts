/**
 * Discord roles for quota tiers and role rules: a member's roles come with the
 * interaction or message (no request); other members' from the guild (cached
 * by discord.js, fetched when not); names from the guild's roles.
 */
import type { Client, Guild } from 'discord.js';
import type { RoleLookup, RoleRef } from '../../core/roles.ts';

/** What the event already told about the person who triggered it. */
export interface KnownMember {
  id: string;
  roleIds: readonly string[];
}

/** The `roles` of an interaction's or message's member, whichever shape discord.js gave. */
export function roleIdsOf(member: { roles: readonly string[] | { cache: { keys(): Iterable<string> } } } | null | undefined): string[] | undefined {
  if (!member) return undefined;
  return Array.isArray(member.roles) ? [...(member.roles as readonly string[])] : [...(member.roles as { cache: { keys(): Iterable<string> } }).cache.keys()];
}

export function discordRoles(client: Client, guildId: string | null, known?: KnownMember): RoleLookup {
  if (!guildId) return {};
  const guild = () => client.guilds.fetch(guildId);
  return {
    async rolesOf(userId) {
      const g = await guild();
      const ids = known && known.id === userId ? known.roleIds : [...(await g.members.fetch(userId)).roles.cache.keys()];
      return namesOf(g, ids.filter((id) => id !== guildId));
    },
    async findRole(ref) {
      const g = await guild();
      const text = ref.trim();
      const id = /^<@&(\d+)>$/.exec(text)?.[1] ?? (/^\d{5,25}$/.test(text) ? text : undefined);
      const roles = await g.roles.fetch();
      const found = id !== undefined ? roles.get(id) : roles.find((r) => r.name.toLowerCase() === text.replace(/^@/, '').toLowerCase());
      // @everyone is the server default, not a tier.
      if (!found || found.id === guildId) return undefined;
      return { id: found.id, name: found.name };
    },
  };
}

async function namesOf(guild: Guild, ids: readonly string[]): Promise<RoleRef[]> {
  if (ids.some((id) => !guild.roles.cache.has(id))) await guild.roles.fetch();
  return ids.map((id) => ({ id, name: guild.roles.cache.get(id)?.name ?? id }));
}
