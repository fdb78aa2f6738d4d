/**
 * The OpenRouter key's own state (`GET /key`: limit, remaining credit, usage),
 * cached for a minute: /quota show server and the key-credit alert read it,
 * and an alert check after every answer must not cost a request each.
 */
import type { GenerationInfo, KeyState, OpenRouterAccount } from '../llm/account.ts';
import type { Clock } from './types.ts';

export type { GenerationInfo, KeyState, OpenRouterAccount };

/** How long a fetched key state is served before it is asked again. */
export const KEY_STATE_TTL_MS = 60_000;

export class KeyStateCache {
  #cached: { state: KeyState; at: number } | undefined;
  #inFlight: Promise<KeyState> | undefined;

  constructor(
    private readonly account: OpenRouterAccount,
    private readonly clock: Clock,
  ) {}

  /** The key's state, at most KEY_STATE_TTL_MS old; concurrent callers share one request. Throws what the account throws. */
  async get(): Promise<KeyState> {
    const cached = this.#cached;
    if (cached && this.clock.now() - cached.at < KEY_STATE_TTL_MS) return cached.state;
    this.#inFlight ??= this.#fetch();
    return this.#inFlight;
  }

  async #fetch(): Promise<KeyState> {
    try {
      const state = await this.account.keyState();
      this.#cached = { state, at: this.clock.now() };
      return state;
    } finally {
      this.#inFlight = undefined;
    }
  }
}
