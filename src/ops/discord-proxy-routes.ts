/**
 * Which requests through the Discord proxy count against the bot's global
 * rate limit. Discord: "Interaction endpoints are not bound to the bot's
 * Global Rate Limit" — the interaction callback and the interaction webhooks
 * (`/webhooks/{application.id}/{interaction.token}/...`: the original
 * response and follow-ups). They keep their per-route buckets (one per
 * interaction token), but must not wait behind the bot's other requests: an
 * acknowledgement has 3 s, and an answer's edits sharing the bot's 50/s with
 * every other answer is a queue Discord does not have.
 *
 * A webhook path alone does not say whether its token is an interaction's
 * (an ordinary webhook's calls without a bot token count against the
 * caller's IP address). An interaction token is only usable after its
 * callback, which passes through the proxy too, so the proxy remembers the
 * tokens it acknowledged for their 15 minutes of validity; a webhook call
 * with any other token stays under the global limit.
 */

/** Discord's interaction tokens are valid for 15 minutes after the interaction. */
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60_000;

const CALLBACK = /^\/interactions\/\d{17,20}\/([^/]+)\/callback$/;
const WEBHOOK = /^\/webhooks\/\d{17,20}\/([^/?]+)(?:\/|$)/;

export type RouteKind = 'interaction-callback' | 'interaction-webhook' | 'bot';

/** Interaction tokens seen in callbacks, each until it expires (insertion order is expiry order). */
export class InteractionTokens {
  readonly #expiry = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  remember(token: string): void {
    this.#sweep();
    this.#expiry.delete(token);
    this.#expiry.set(token, this.now() + INTERACTION_TOKEN_LIFETIME_MS);
  }

  has(token: string): boolean {
    const expiry = this.#expiry.get(token);
    return expiry !== undefined && expiry > this.now();
  }

  get size(): number {
    return this.#expiry.size;
  }

  #sweep(): void {
    const now = this.now();
    for (const [token, expiry] of this.#expiry) {
      if (expiry > now) break;
      this.#expiry.delete(token);
    }
  }
}

/**
 * Classifies a request by its route below /api/vN and whether it carries an
 * Authorization header; a callback's token is remembered for its webhooks.
 */
export function classifyRoute(fullRoute: string, hasAuthorization: boolean, tokens: InteractionTokens): RouteKind {
  const callback = CALLBACK.exec(fullRoute);
  if (callback) {
    tokens.remember(callback[1]!);
    return 'interaction-callback';
  }
  const webhook = WEBHOOK.exec(fullRoute);
  if (webhook && !hasAuthorization && tokens.has(webhook[1]!)) return 'interaction-webhook';
  return 'bot';
}
