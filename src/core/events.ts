/**
 * What happens inside the core, for observers (metrics, alerts) that must not
 * sit in the request path. A listener that throws is logged and ignored.
 */
import type { Outcome } from '../store/types.ts';

export interface CoreEventMap {
  'answer-started': { requestId: string; platform: string; workspaceId: string; channelId: string; userId: string; model: string };
  'answer-finished': {
    requestId: string;
    platform: string;
    workspaceId: string;
    userId: string;
    modelRequested: string;
    modelAnswered: string | null;
    outcome: Outcome;
    errorKind: string | null;
    tokensIn: number;
    tokensOut: number;
    /** Of tokensOut, spent thinking (reasoning models). */
    tokensReasoning?: number;
    costUsd: number;
    /** Upstream time to first token. */
    ttftMs?: number;
    totalMs: number;
  };
  'quota-refused': { platform: string; workspaceId: string; userId: string; reason: string };
  /** An adapter was told to slow down by its platform. */
  'platform-rate-limited': { platform: string; route?: string; retryAfterMs: number };
}

type Listener<K extends keyof CoreEventMap> = (payload: CoreEventMap[K]) => void;

export class CoreEvents {
  readonly #listeners = new Map<keyof CoreEventMap, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (error: unknown, event: string) => void = () => undefined) {}

  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof CoreEventMap>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof CoreEventMap>(event: K, payload: CoreEventMap[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(payload);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }
}
