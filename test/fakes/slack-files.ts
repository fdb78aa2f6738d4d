/**
 * Slack's external file upload, as the fake Slack plays it: files.getUploadURLExternal
 * hands out an upload URL on a server of its own (as files.slack.com is not
 * slack.com/api), the client POSTs the bytes there, and
 * files.completeUploadExternal shares the files into a channel or thread.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A file shared with files.completeUploadExternal. */
export interface FakeSlackFile {
  id: string;
  filename: string;
  title: string;
  /** The length files.getUploadURLExternal was told. */
  length: number;
  data: Buffer;
  channel: string;
  threadTs?: string;
  initialComment?: string;
}

interface Pending {
  id: string;
  filename: string;
  length: number;
  data?: Buffer;
}

type Answer = { ok: true; [key: string]: unknown } | { ok: false; error: string };

export interface FakeSlackFiles {
  /** Every file shared, in order. */
  readonly files: FakeSlackFile[];
  getUploadURLExternal(args: Record<string, unknown>): Answer;
  /** `onShared` adds the file message to the channel or thread (the fake Slack's own message list); it returns false when the thread is unknown. */
  completeUploadExternal(args: Record<string, unknown>, onShared: (channel: string, threadTs: string | undefined, files: FakeSlackFile[]) => boolean): Answer;
  close(): Promise<void>;
}

/** Slack's limit on a file (1 GB). */
const MAX_FILE_BYTES = 1024 * 1024 * 1024;

export async function startFakeSlackFiles(violation: (text: string) => void): Promise<FakeSlackFiles> {
  const pending = new Map<string, Pending>();
  const files: FakeSlackFile[] = [];

  const server = createServer((req, res) => {
    void receive(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });

  /** The upload URL takes the bytes raw or as multipart (the WebClient sends one file field); answers "OK - <length>". */
  async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const id = /^\/upload\/v1\/([\w-]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname)?.[1];
    const upload = id ? pending.get(id) : undefined;
    if (!upload || req.method !== 'POST') {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    let data = raw;
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
      const file = [...form.values()].find((value) => typeof value !== 'string');
      if (!file || typeof file === 'string') {
        res.writeHead(400);
        res.end('no file');
        return;
      }
      data = Buffer.from(await file.arrayBuffer());
    }
    if (data.length !== upload.length) violation(`upload of ${upload.filename}: ${data.length} bytes, but files.getUploadURLExternal was told ${upload.length}`);
    upload.data = data;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`OK - ${data.length}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    files,
    getUploadURLExternal(args) {
      const filename = typeof args.filename === 'string' ? args.filename : '';
      const length = Number(args.length);
      if (filename === '') return { ok: false, error: 'invalid_arguments' };
      if (!Number.isInteger(length) || length <= 0) return { ok: false, error: 'invalid_arguments' };
      if (length > MAX_FILE_BYTES) return { ok: false, error: 'file_too_large' };
      const id = `F${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}`;
      pending.set(id, { id, filename, length });
      return { ok: true, upload_url: `${base}/upload/v1/${id}`, file_id: id };
    },
    completeUploadExternal(args, onShared) {
      let list: Array<{ id?: unknown; title?: unknown }>;
      try {
        list = (typeof args.files === 'string' ? JSON.parse(args.files) : args.files) as Array<{ id?: unknown; title?: unknown }>;
      } catch {
        return { ok: false, error: 'invalid_arguments' };
      }
      if (!Array.isArray(list) || list.length === 0) return { ok: false, error: 'invalid_arguments' };
      const channel = typeof args.channel_id === 'string' ? args.channel_id : '';
      const threadTs = typeof args.thread_ts === 'string' && args.thread_ts !== '' ? args.thread_ts : undefined;
      if (threadTs && !channel) return { ok: false, error: 'invalid_arguments' };
      const shared: FakeSlackFile[] = [];
      for (const entry of list) {
        const upload = pending.get(String(entry.id));
        if (!upload) return { ok: false, error: 'file_not_found' };
        if (!upload.data) {
          violation(`files.completeUploadExternal: ${upload.filename} was never uploaded`);
          return { ok: false, error: 'file_upload_incomplete' };
        }
        shared.push({
          id: upload.id,
          filename: upload.filename,
          title: typeof entry.title === 'string' ? entry.title : upload.filename,
          length: upload.length,
          data: upload.data,
          channel,
          ...(threadTs ? { threadTs } : {}),
          ...(typeof args.initial_comment === 'string' ? { initialComment: args.initial_comment } : {}),
        });
      }
      if (channel && !onShared(channel, threadTs, shared)) return { ok: false, error: 'thread_not_found' };
      for (const file of shared) pending.delete(file.id);
      files.push(...shared);
      return { ok: true, files: shared.map((f) => ({ id: f.id, title: f.title, name: f.filename })) };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
