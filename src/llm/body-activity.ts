/**
 * Lets a streaming round see every byte OpenRouter sends, not only the chunks
 * the openai SDK hands over. OpenRouter keeps a slow stream alive with SSE
 * comments (`: OPENROUTER PROCESSING`), for minutes while a model reasons
 * silently; the SDK drops comment lines, so a watchdog fed by chunks alone
 * would cut such a model off as idle.
 *
 * The round passes a callback in the request's `fetchOptions` under a symbol
 * key: the SDK spreads those options into the `init` it gives fetch (symbol
 * keys included), and a symbol never reaches the wire.
 */
import type OpenAI from 'openai';

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const ON_BODY_BYTES = Symbol('switchboard.onBodyBytes');

/** The SDK's per-request `fetchOptions` type. */
type SdkFetchOptions = NonNullable<NonNullable<Parameters<OpenAI['chat']['completions']['create']>[1]>['fetchOptions']>;

/** Per-request fetch options that call `onBytes` whenever response body bytes arrive. */
export function bodyActivityOption(onBytes: () => void): SdkFetchOptions {
  // Only a symbol key, which the SDK's type for fetch options cannot name.
  return { [ON_BODY_BYTES]: onBytes } as unknown as SdkFetchOptions;
}

async function* tapped(body: AsyncIterable<Uint8Array>, onBytes: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    onBytes();
    yield chunk;
  }
}

/** The same response with a body that reports its bytes; everything else is the original's. */
function observed(response: Response, onBytes: () => void): Response {
  const body = tapped(response.body as unknown as AsyncIterable<Uint8Array>, onBytes);
  return new Proxy(response, {
    get(target, property) {
      if (property === 'body') return body;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Wraps the SDK's fetch: a successful response to a request that carries a
 * `bodyActivityOption` gets a body that calls back on every piece of data,
 * SSE comments included. Other requests pass through untouched.
 */
export function withBodyActivity(fetchImpl: FetchLike): FetchLike {
  return async (input, init) => {
    const onBytes: unknown = init ? Reflect.get(init, ON_BODY_BYTES) : undefined;
    const response = await fetchImpl(input, init);
    if (typeof onBytes !== 'function' || !response.ok || response.body === null) return response;
    return observed(response, onBytes as () => void);
  };
}
