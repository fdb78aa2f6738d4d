/**
 * Who people are: names for thread history and workspace admin/owner flags,
 * from users.info, cached briefly so a busy thread costs one lookup per person.
 */
import type { webApi } from '@slack/bolt';
import type { Clock } from '../../core/types.ts';
import type { Logger } from '../../log.ts';

export interface SlackUser {
  id: string;
  name: string;
  /** A workspace admin or owner of *this* workspace; never someone from another team. */
  isAdmin: boolean;
  isBot: boolean;
}

interface Entry {
  at: number;
  value: Promise<SlackUser | undefined>;
}

/**
 * People remembered at once (lookups and names each): a busy workspace stays
 * cheap, and a stream of new users cannot grow the process without bound.
 */
export const SLACK_DIRECTORY_MAX_USERS = 5000;

type InfoUser = NonNullable<webApi.UsersInfoResponse['user']>;

/**
 * Slack Connect puts people from other organisations in shared channels, and
 * users.info reports *their* team's is_admin/is_owner. Only members of our own
 * team (directly, or through Enterprise Grid) can be our admins.
 */
function isMemberOf(user: InfoUser, teamId: string | undefined): boolean {
  if (!teamId || user.is_stranger) return false;
  if (user.team_id === teamId) return true;
  return user.enterprise_user?.teams?.includes(teamId) ?? false;
}

/** Map insertion order as recency: a hit moves the key to the end, the oldest go first. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
}

export class SlackDirectory {
  readonly #cache = new Map<string, Entry>();
  readonly #settled = new Map<string, string>();
  #ownTeamId: string | undefined;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Admin rights can change, so entries live a minute by default. */
    private readonly ttlMs = 60_000,
    private readonly maxUsers = SLACK_DIRECTORY_MAX_USERS,
  ) {}

  /**
   * The workspace's own team id (from auth.test). Until it is known nobody is
   * an admin through Slack's flags, so an outsider can never slip through.
   */
  setOwnTeam(teamId: string): void {
    if (teamId === this.#ownTeamId) return;
    this.#ownTeamId = teamId || undefined;
    this.#cache.clear();
  }

  /** The user, or undefined when Slack does not know them. Lookup failures are not cached. */
  user(id: string): Promise<SlackUser | undefined> {
    const now = this.clock.now();
    const cached = this.#cache.get(id);
    if (cached && now - cached.at < this.ttlMs) {
      remember(this.#cache, id, cached, this.maxUsers);
      const name = this.#settled.get(id);
      if (name !== undefined) remember(this.#settled, id, name, this.maxUsers);
      return cached.value;
    }
    const entry = { at: now, value: this.#fetch(id) };
    remember(this.#cache, id, entry, this.maxUsers);
    entry.value.catch(() => {
      if (this.#cache.get(id) === entry) this.#cache.delete(id);
    });
    return entry.value;
  }

  /** A display name, falling back to the id when the lookup fails. */
  async nameOf(id: string): Promise<string> {
    try {
      return (await this.user(id))?.name ?? id;
    } catch (error) {
      this.logger.debug({ err: error, user: id }, 'users.info failed; using the id as name');
      return id;
    }
  }

  /** Workspace admins and owners. Throws when Slack cannot tell (the core treats that as not an admin). */
  async isAdmin(id: string): Promise<boolean> {
    return (await this.user(id))?.isAdmin ?? false;
  }

  /** Names already looked up, for synchronous formatting. */
  cachedName(id: string): string | undefined {
    return this.#settled.get(id);
  }

  async #fetch(id: string): Promise<SlackUser | undefined> {
    try {
      const result = await this.client.users.info({ user: id });
      const user = result.user;
      if (!user) return undefined;
      const name = user.profile?.display_name || user.real_name || user.profile?.real_name || user.name || id;
      remember(this.#settled, id, name, this.maxUsers);
      const flagged = Boolean(user.is_admin || user.is_owner || user.is_primary_owner);
      return { id, name, isAdmin: flagged && isMemberOf(user, this.#ownTeamId), isBot: Boolean(user.is_bot) };
    } catch (error) {
      if ((error as { data?: { error?: string } }).data?.error === 'user_not_found') return undefined;
      throw error;
    }
  }
}
