/**
 * Roles (Discord) and user groups (Slack) as the core sees them: read from the
 * platform through the adapter, cached with a bounded TTL. A lookup that fails
 * is logged and counts as no roles (the default tier, everyone's rules), so a
 * platform hiccup never refuses anyone silently.
 */
import type { Logger } from '../log.ts';
import { BoundedMap } from '../util/bounded-map.ts';
import type { Clock } from '../util/clock.ts';

/** A Discord role or a Slack user group. */
export interface RoleRef {
  id: string;
  /** The role's name, or the group's handle. */
  name: string;
}

/** How a platform names its roles: the noun in messages, the prefix of a tier in `/quota` (`role:staff`, `group:staff`). */
export interface RoleWords {
  noun: string;
  prefix: string;
}

/** Discord's, and the words used where a platform says nothing. */
export const ROLE_WORDS: RoleWords = { noun: 'role', prefix: 'role' };

/** The words for roles where this lookup (or invocation) comes from. */
export function roleWordsOf(lookup: RoleLookup): RoleWords {
  return lookup.roleWords ?? ROLE_WORDS;
}

/** What the platform can tell about roles (InboundPort and Invocation carry these). */
export interface RoleLookup {
  /** How this platform names them (Slack: user groups); ROLE_WORDS when unset. */
  roleWords?: RoleWords;
  /** The roles (user groups) a member of this server (workspace) has. */
  rolesOf?(userId: string): Promise<RoleRef[]>;
  /** A role by mention, id or name (Slack: a user group by id or handle); undefined when none matches. */
  findRole?(ref: string): Promise<RoleRef | undefined>;
}

export interface UserRoles {
  roles: RoleRef[];
  /** Set when the platform could not be asked: the roles are then empty (default tier). */
  lookupFailed?: string;
}

const CAPACITY = 20_000;
/** A failed lookup is retried after this long, not on every request. */
const FAILURE_TTL_MS = 30_000;

export class MembershipCache {
  readonly #entries = new BoundedMap<{ value: UserRoles; until: number }>(CAPACITY);
  /** Lookups under way: a burst of requests from one user asks the platform once. */
  readonly #pending = new Map<string, Promise<UserRoles>>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly ttlMs: number,
  ) {}

  /** The user's roles in a workspace, from the cache while fresh; without a lookup, what the cache last had (or none). */
  async rolesOf(who: { platform: string; workspaceId: string; userId: string }, lookup: ((userId: string) => Promise<RoleRef[]>) | undefined): Promise<UserRoles> {
    const key = `${who.platform}\n${who.workspaceId}\n${who.userId}`;
    const now = this.clock.now();
    const cached = this.#entries.get(key);
    if (cached && (cached.until > now || !lookup)) return cached.value;
    if (!lookup) return { roles: [] };
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const work = this.#lookup(key, who, lookup).finally(() => this.#pending.delete(key));
    this.#pending.set(key, work);
    return work;
  }

  async #lookup(key: string, who: { platform: string; workspaceId: string; userId: string }, lookup: (userId: string) => Promise<RoleRef[]>): Promise<UserRoles> {
    const now = this.clock.now();
    let value: UserRoles;
    try {
      value = { roles: await lookup(who.userId) };
      this.#entries.set(key, { value, until: now + this.ttlMs });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn({ err: error, platform: who.platform, workspace: who.workspaceId, user: who.userId }, 'role lookup failed; the default tier and everyone rules apply');
      value = { roles: [], lookupFailed: reason };
      this.#entries.set(key, { value, until: now + Math.min(FAILURE_TTL_MS, this.ttlMs) });
    }
    return value;
  }
}

/** `role:<name or id>` (Discord) or `group:<handle>` (Slack) as a quota target, or undefined. */
export function parseRoleTarget(target: string): string | undefined {
  const match = /^(?:role|group):\s*(.+)$/i.exec(target.trim());
  return match?.[1]?.trim() || undefined;
}
