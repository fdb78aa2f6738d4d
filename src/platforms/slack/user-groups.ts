/**
 * Slack user groups for quota tiers and role rules (usergroups.list with the
 * members of each group; needs the usergroups:read scope). The list is shared
 * by every lookup of a team for a minute, so a burst of new askers costs one
 * call; the core caches each member's groups longer (ROLE_CACHE_TTL_MS).
 */
import type { webApi } from '@slack/bolt';
import type { RoleLookup, RoleWords } from '../../core/roles.ts';

/** Slack's tiers are user groups: `/quota set group:<handle> …`. */
export const SLACK_ROLE_WORDS: RoleWords = { noun: 'user group', prefix: 'group' };
import type { Clock } from '../../core/types.ts';

interface Group {
  id: string;
  handle: string;
  users: string[];
}

const LIST_TTL_MS = 60_000;
type TeamLists = Map<string, { at: number; groups: Promise<Group[]> }>;
const lists = new WeakMap<webApi.WebClient, TeamLists>();

async function fetchGroups(client: webApi.WebClient, teamId: string): Promise<Group[]> {
  const result = await client.usergroups.list({ include_users: true, team_id: teamId });
  return (result.usergroups ?? []).flatMap((g) => (g.id && g.handle ? [{ id: g.id, handle: g.handle, users: g.users ?? [] }] : []));
}

function groupsOf(client: webApi.WebClient, clock: Clock, teamId: string): Promise<Group[]> {
  let byTeam = lists.get(client);
  if (!byTeam) lists.set(client, (byTeam = new Map() as TeamLists));
  const cached = byTeam.get(teamId);
  if (cached && clock.now() - cached.at < LIST_TTL_MS) return cached.groups;
  const groups = fetchGroups(client, teamId);
  byTeam.set(teamId, { at: clock.now(), groups });
  // A failure is not kept: the next lookup asks again (the core spaces them out).
  groups.catch(() => byTeam.delete(teamId));
  return groups;
}

export function slackUserGroups(deps: { client: webApi.WebClient; clock: Clock }, teamId: string): RoleLookup {
  return {
    roleWords: SLACK_ROLE_WORDS,
    async rolesOf(userId) {
      const groups = await groupsOf(deps.client, deps.clock, teamId);
      return groups.filter((g) => g.users.includes(userId)).map((g) => ({ id: g.id, name: g.handle }));
    },
    async findRole(ref) {
      const text = ref.trim();
      // <!subteam^S0123|@handle>, <!subteam^S0123>, S0123, @handle or handle.
      const id = /^<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>$/.exec(text)?.[1];
      const handle = text.replace(/^@/, '').toLowerCase();
      const groups = await groupsOf(deps.client, deps.clock, teamId);
      const found = groups.find((g) => (id ? g.id === id : g.id === text || g.handle.toLowerCase() === handle));
      return found ? { id: found.id, name: found.handle } : undefined;
    },
  };
}
