/**
 * Downloads with a size cap: reading stops once more than `maxBytes` arrived,
 * so a file bigger than announced never fills memory (the caller sees the
 * extra byte and refuses it as too big).
 */

/** Reads a response body, stopping once more than `maxBytes` arrived. */
export async function readLimited(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
      total += value.length;
      if (total > maxBytes) break;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks);
}

/**
 * GET `url` (optionally with headers such as a bot token), at most
 * `maxBytes` + 1 bytes. Throws with the HTTP status on failure; the headers
 * never reach the message.
 */
export async function fetchLimited(url: string, maxBytes: number, headers: Record<string, string> = {}): Promise<Buffer> {
  const response = await fetch(url, { headers, redirect: 'follow' });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`HTTP ${response.status}`);
  }
  return readLimited(response.body, maxBytes);
}
