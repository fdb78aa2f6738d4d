import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpFetch } from '../src/http-fetch.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

describe('the node:http transport the openai SDK uses', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  const fallbackCalls: unknown[] = [];
  const httpFetch = createHttpFetch(async (input) => {
    fallbackCalls.push(input);
    return new Response('from the fallback');
  });

  beforeEach(async () => {
    fallbackCalls.length = 0;
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => handler(req, body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('posts the body with its headers and answers status, headers and JSON', async () => {
    handler = (req, body, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'r1' });
      res.end(JSON.stringify({ got: JSON.parse(body) as unknown, auth: req.headers.authorization, length: req.headers['content-length'], method: req.method }));
    };
    const res = await httpFetch(`${base}/v1/chat`, {
      method: 'POST',
      headers: new Headers({ authorization: 'Bearer k', 'content-type': 'application/json' }),
      body: JSON.stringify({ q: 'ünïcode' }),
    });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('x-request-id')).toBe('r1');
    expect(await res.json()).toEqual({ got: { q: 'ünïcode' }, auth: 'Bearer k', length: String(Buffer.byteLength('{"q":"ünïcode"}')), method: 'POST' });
    await expect(res.text()).rejects.toThrow(/already been read/);
  });

  it('streams the body as it arrives', async () => {
    let sendRest!: () => void;
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      sendRest = () => res.end('data: two\n\n');
    };
    const res = await httpFetch(`${base}/stream`, { method: 'POST', body: '{}' });
    const iterator = (res.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(Buffer.from(first.value).toString()).toBe('data: one\n\n');
    sendRest();
    const second = await iterator.next();
    expect(Buffer.from(second.value).toString()).toBe('data: two\n\n');
    expect((await iterator.next()).done).toBe(true);
  });

  it('rejects with an AbortError when aborted before the headers, and ends the body with one after', async () => {
    handler = () => undefined; // never answers
    const before = new AbortController();
    const pending = httpFetch(`${base}/slow`, { method: 'POST', body: '{}', signal: before.signal });
    setTimeout(() => before.abort(), 5);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    handler = (_req, _body, res) => {
      res.writeHead(200);
      res.write('partial');
    };
    const after = new AbortController();
    const res = await httpFetch(`${base}/half`, { method: 'POST', body: '{}', signal: after.signal });
    const iterator = (res.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    await iterator.next();
    after.abort();
    await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError' });

    // AbortSignal.timeout (Slack's client uses it) rejects with its TimeoutError, as fetch does.
    handler = () => undefined;
    await expect(httpFetch(`${base}/slower`, { method: 'POST', body: 'a=1', signal: AbortSignal.timeout(5) })).rejects.toMatchObject({ name: 'TimeoutError' });

    const already = new AbortController();
    already.abort();
    await expect(httpFetch(`${base}/x`, { signal: already.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('reports a refused connection as fetch does, and a connection lost mid-body as terminated', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await httpFetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).message).toBe('fetch failed');
    expect(String((refused as TypeError).cause)).toMatch(/ECONNREFUSED/);

    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n', () => res.socket?.destroy());
    };
    const res = await httpFetch(`${base}/reset`, { method: 'POST', body: '{}' });
    const lost = await (async () => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) void chunk;
    })().catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(TypeError);
    expect((lost as TypeError).message).toBe('terminated');
  });

  it('decompresses a compressed answer, gives no body for 204, and leaves other inputs to the fallback', async () => {
    handler = (req, _body, res) => {
      if (req.url === '/gz') {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' });
        res.end(gzipSync(JSON.stringify({ ok: true })));
      } else {
        res.writeHead(204);
        res.end();
      }
    };
    expect(await (await httpFetch(`${base}/gz`)).json()).toEqual({ ok: true });
    const empty = await httpFetch(`${base}/none`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    expect(await empty.text()).toBe('');

    const form = new FormData();
    form.append('file', 'x');
    expect(await (await httpFetch(`${base}/upload`, { method: 'POST', body: form })).text()).toBe('from the fallback');
    expect(fallbackCalls).toEqual([`${base}/upload`]);
  });
});
