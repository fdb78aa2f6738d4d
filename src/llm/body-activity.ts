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

/**
 * Reports every piece of the body, and hands the SDK whole SSE events: its
 * parser copies and rescans everything it holds for each piece it is given,
 * which made one 6 MB line (an image answer's data URL, arriving in some
 * hundred pieces) cost seconds of CPU on the event loop. Pieces are held
 * until an event boundary (`\n\n`) arrives and passed on together; a body
 * with `\r` line ends passes as it comes (the SDK copes with any split, so
 * this only changes how much work it does).
 */
async function* tapped(body: AsyncIterable<Uint8Array>, onBytes: () => void): AsyncGenerator<Uint8Array> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  let passThrough = false;
  for await (const piece of body) {
    onBytes();
    const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (passThrough || chunk.includes(0x0d)) {
      passThrough = true;
      if (heldBytes > 0) yield Buffer.concat(held);
      held = [];
      heldBytes = 0;
      yield chunk;
      continue;
    }
    const end = lastBoundaryEnd(held.at(-1), chunk);
    if (end < 0) {
      held.push(chunk);
      heldBytes += chunk.length;
      continue;
    }
    yield heldBytes === 0 && end === chunk.length ? chunk : Buffer.concat([...held, chunk.subarray(0, end)]);
    held = end < chunk.length ? [chunk.subarray(end)] : [];
    heldBytes = chunk.length - end;
  }
  if (heldBytes > 0) yield Buffer.concat(held);
}

/** Where the last `\n\n` in `chunk` ends (one straddling from `before` counts), or -1. */
function lastBoundaryEnd(before: Buffer | undefined, chunk: Buffer): number {
  const at = chunk.lastIndexOf('\n\n');
  if (at >= 0) return at + 2;
  if (before !== undefined && before.length > 0 && before[before.length - 1] === 0x0a && chunk[0] === 0x0a) return 1;
  return -1;
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
