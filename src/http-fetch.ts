/**
 * The HTTP transport of the openai SDK and Slack's Web API client: node:http
 * instead of the global fetch.
 *
 * Profiling 1000 simultaneous answers showed the WHATWG fetch machinery
 * (Node's bundled undici, web streams, abort signals) at a fifth of the main
 * thread's time, about 1.3 ms per answer, for what is one POST and a stream of
 * SSE lines. The SDK accepts any fetch-shaped function and reads a response
 * body as an async iterable when it is one, so this answers with a small
 * Response look-alike whose body is the Node stream itself.
 *
 * It behaves as fetch does where the SDK and our error classification look:
 * connection failures reject with TypeError('fetch failed') carrying the
 * cause; a connection lost mid-body throws TypeError('terminated'); an abort,
 * before or after the headers, rejects or ends the body with an AbortError.
 * Anything it does not handle (a Request object, a body that is not a string)
 * goes to the global fetch. No redirects are followed (OpenRouter's API does
 * not redirect); no Accept-Encoding is sent, and a compressed answer is
 * decompressed all the same.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

/** Statuses whose responses carry no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** As fetch: the signal's reason when it is an error (AbortSignal.timeout's TimeoutError), else an AbortError. */
function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

function toHeaderRecord(headers: RequestInit['headers']): Record<string, string> {
  if (headers === undefined) return {};
  if (headers instanceof Headers) return Object.fromEntries(headers.entries());
  if (Array.isArray(headers)) return Object.fromEntries(headers.map(([k, v]) => [k, v] as [string, string]));
  return { ...(headers as Record<string, string>) };
}

function decoded(res: http.IncomingMessage): Readable {
  switch ((res.headers['content-encoding'] ?? '').toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return res.pipe(zlib.createGunzip());
    case 'deflate':
      return res.pipe(zlib.createInflate());
    case 'br':
      return res.pipe(zlib.createBrotliDecompress());
    default:
      return res;
  }
}

/** The parts of Response the SDK uses; `body` is an async iterable of bytes. */
class HttpResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly type = 'basic';
  #used = false;

  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    readonly url: string,
    readonly body: AsyncIterable<Uint8Array> | null,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.#bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return (await this.#bytes()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  async #bytes(): Promise<Buffer> {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    if (this.body === null) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    for await (const chunk of this.body) parts.push(Buffer.from(chunk));
    return Buffer.concat(parts);
  }
}

/** Errors as fetch reports them: the abort as itself, anything else as a lost connection. */
async function* bodyOf(stream: Readable, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) yield chunk as Uint8Array;
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw new TypeError('terminated', { cause: error });
  }
}

export function createHttpFetch(fallback: FetchLike = (input, init) => globalThis.fetch(input, init)): FetchLike {
  return (input, init = {}) => {
    const body = init.body;
    if (input instanceof Request || (body !== undefined && body !== null && typeof body !== 'string')) return fallback(input, init);
    const url = new URL(String(input));
    const agent = url.protocol === 'https:' ? agents['https:'] : url.protocol === 'http:' ? agents['http:'] : undefined;
    if (agent === undefined) return fallback(input, init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(abortError(signal));

    return new Promise<Response>((resolve, reject) => {
      const headers = toHeaderRecord(init.headers);
      if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
      const request = (url.protocol === 'https:' ? https : http).request(url, { method: init.method ?? 'GET', headers, agent });
      const onAbort = () => request.destroy(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);

      request.on('error', (error) => {
        done();
        reject(signal?.aborted ? abortError(signal) : new TypeError('fetch failed', { cause: error }));
      });
      request.on('response', (res) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const one of Array.isArray(value) ? value : [value]) responseHeaders.append(name, one);
        }
        const status = res.statusCode ?? 0;
        // An abort after the headers ends the body (as with fetch); so does its end.
        res.once('close', done);
        const stream = NULL_BODY.has(status) || init.method === 'HEAD' ? null : decoded(res);
        if (stream === null) res.resume();
        else if (stream !== res) res.once('error', (error) => stream.destroy(error));
        resolve(
          new HttpResponse(status, res.statusMessage ?? '', responseHeaders, url.href, stream === null ? null : bodyOf(stream, signal)) as unknown as Response,
        );
      });
      request.end(body ?? undefined);
    });
  };
}
