/**
 * `/attach <path>` in the terminal chat: a local file for the next message.
 * The file is read when the core asks for it (after its checks), at most the
 * kind's limit plus one byte.
 */
import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { InboundAttachment } from '../../core/attachments.ts';

export async function localAttachment(path: string, cwd = process.cwd()): Promise<InboundAttachment> {
  const full = resolve(cwd, path);
  const info = await stat(full);
  if (!info.isFile()) throw new Error(`${path} is not a file`);
  return {
    id: `file:${full}:${info.mtimeMs}:${info.size}`,
    name: basename(full),
    size: info.size,
    async fetch(maxBytes) {
      const handle = await open(full, 'r');
      try {
        const length = Math.min(info.size, maxBytes + 1);
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
  };
}
