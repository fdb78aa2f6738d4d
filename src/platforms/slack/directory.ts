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
  isAdmin: boolean;
  isBot: boolean;
}

interface Entry {
  at: number;
  value: Promise<SlackUser | undefined>;
}

export class SlackDirectory {
  readonly #cache = new Map<string, Entry>();
  readonly #settled = new Map<string, string>();

  constructor(
    private readonly client: webApi.WebClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** Admin rights can change, so entries live a minute by default. */
    private readonly ttlMs = 60_000,
  ) {}

  /** The user, or undefined when Slack does not know them. Lookup failures are not cached. */
  user(id: string): Promise<SlackUser | undefined> {
    const now = this.clock.now();
    const cached = this.#cache.get(id);
    if (cached && now - cached.at < this.ttlMs) return cached.value;
    const value = this.#fetch(id);
    this.#cache.set(id, { at: now, value });
    value.catch(() => this.#cache.delete(id));
    return value;
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
      this.#settled.set(id, name);
      return { id, name, isAdmin: Boolean(user.is_admin || user.is_owner || user.is_primary_owner), isBot: Boolean(user.is_bot) };
    } catch (error) {
      if ((error as { data?: { error?: string } }).data?.error === 'user_not_found') return undefined;
      throw error;
    }
  }
}
