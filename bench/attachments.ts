/**
 * Attachments in: time from a question with a 5 MB image to the start of the
 * upstream request (the fake OpenRouter receiving it), p50/p99, for the three
 * ways an image travels, each beside the same question without an image:
 *   - url: Discord's CDN URL passed as it is (nothing downloaded here);
 *   - download: fetched over HTTP and sent as a base64 data URL (Slack's
 *     url_private, a Discord image we chose to fetch);
 *   - downscale: a 5.9 MB image (over the 5 MB limit) fetched and made
 *     smaller with sharp before it is sent.
 * And memory with 50 such questions (download mode) at once. The real core
 * (createApp, real openai SDK, SQLite in memory) against the fake OpenRouter;
 * the image is served from a local HTTP server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createApp } from '../src/app.ts';
import { parseConfig } from '../src/config.ts';
import type { InboundAttachment } from '../src/core/attachments.ts';
import { createLogger } from '../src/log.ts';
import { fetchLimited } from '../src/util/fetch-limited.ts';
import { startFakeOpenRouter } from '../test/fakes/openrouter.ts';
import { noisePng, visionModels } from '../test/helpers/attachment-files.ts';
import { createHarness } from '../test/helpers/invocation.ts';
import { percentile, round } from './stats.ts';

const API_KEY = 'sk-or-v1-bench-attachments-0123456789';
const MODEL = 'openai/gpt-4o';

export interface AttachmentMode {
  mode: 'none' | 'url' | 'download' | 'downscale';
  imageBytes: number;
  /** Bytes of the request body OpenRouter received (p50). */
  bodyBytes: number;
  p50Ms: number;
  p99Ms: number;
}

export interface AttachmentsResult {
  samples: number;
  modes: AttachmentMode[];
  concurrent: { requests: number; imageBytes: number; wallMs: number; rssPeakDeltaMb: number; heapPlusExternalPeakDeltaMb: number };
}

export async function benchAttachments(options: { samples: number; concurrent: number }): Promise<AttachmentsResult> {
  // 1,290 pixels square of noise: a PNG of about 5.0 MB, under the 5 MiB limit (sent as it is).
  const fiveMb = await noisePng(1290);
  const overLimit = await noisePng(1400);
  const files = new Map([['/five.png', fiveMb], ['/big.png', overLimit]]);
  const server = createServer((req, res) => {
    const data = files.get(req.url ?? '');
    res.writeHead(data ? 200 : 404, { 'content-type': 'image/png' });
    res.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake = await startFakeOpenRouter({ apiKey: API_KEY, recordRequests: false });
  fake.models = [...fake.models, ...visionModels()];
  let arrived: { at: number; bytes: number } | undefined;
  fake.setDefault((body) => {
    arrived = { at: performance.now(), bytes: JSON.stringify(body).length };
    return { text: ['Seen.'] };
  });
  const config = parseConfig({
    OPENROUTER_API_KEY: API_KEY,
    OPENROUTER_BASE_URL: fake.url,
    DATABASE_URL: 'sqlite::memory:',
    DEFAULT_MODEL: MODEL,
    QUOTA_MAX_CONCURRENT: String(options.concurrent + 10),
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
  });
  const logger = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }), secrets: config.secrets });
  const app = await createApp(config, { logger });
  const image = (path: string, data: Buffer, publicUrl: boolean, n: number): InboundAttachment => ({
    // A new id each time: the cache for history never answers a first question.
    id: `bench:${path}:${n}:${Math.random()}`,
    name: 'photo.png',
    mime: 'image/png',
    size: data.length,
    ...(publicUrl ? { publicUrl: `${base}${path}` } : {}),
    fetch: (maxBytes) => fetchLimited(`${base}${path}`, maxBytes),
  });
  try {
    const modes: AttachmentMode[] = [];
    const ways = [
      { mode: 'none' as const, data: fiveMb, make: () => [] },
      { mode: 'url' as const, data: fiveMb, make: (n: number) => [image('/five.png', fiveMb, true, n)] },
      { mode: 'download' as const, data: fiveMb, make: (n: number) => [image('/five.png', fiveMb, false, n)] },
      { mode: 'downscale' as const, data: overLimit, make: (n: number) => [image('/big.png', overLimit, false, n)] },
    ];
    for (const way of ways) {
      const times: number[] = [];
      const bytes: number[] = [];
      for (let i = -2; i < options.samples; i++) {
        const h = createHarness(app.core);
        arrived = undefined;
        const started = performance.now();
        await h.run({ id: `u${i}`, name: 'Ada' }, 'ask', undefined, { prompt: 'what is in this picture?' }, { attachments: way.make(i), conversationKey: `bench:${way.mode}:${i}` });
        if (!arrived) throw new Error(`no upstream request in mode ${way.mode}: ${h.lastReply()}`);
        if (i < 0) continue; // warm-up
        const upstream: { at: number; bytes: number } = arrived;
        times.push(upstream.at - started);
        bytes.push(upstream.bytes);
      }
      modes.push({
        mode: way.mode,
        imageBytes: way.mode === 'none' ? 0 : way.data.length,
        bodyBytes: percentile(bytes, 50),
        p50Ms: round(percentile(times, 50), 1),
        p99Ms: round(percentile(times, 99), 1),
      });
    }

    // 50 at once, download mode: the peak memory while every image is in flight.
    global.gc?.();
    const before = process.memoryUsage();
    let rssPeak = before.rss;
    let heapPeak = before.heapUsed + before.external + before.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed + m.external + m.arrayBuffers);
    }, 5);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrent }, (_, i) => {
        const h = createHarness(app.core);
        return h.run({ id: `c${i}`, name: 'Ada' }, 'ask', undefined, { prompt: 'and this one?' }, { attachments: [image('/five.png', fiveMb, false, 1000 + i)], conversationKey: `bench:concurrent:${i}` });
      }),
    );
    const wallMs = performance.now() - started;
    clearInterval(sampler);
    const mb = (n: number) => round(n / 1024 / 1024, 1);
    return {
      samples: options.samples,
      modes,
      concurrent: {
        requests: options.concurrent,
        imageBytes: fiveMb.length,
        wallMs: round(wallMs, 0),
        rssPeakDeltaMb: mb(rssPeak - before.rss),
        heapPlusExternalPeakDeltaMb: mb(heapPeak - (before.heapUsed + before.external + before.arrayBuffers)),
      },
    };
  } finally {
    await app.close();
    await fake.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export function attachmentsReport(result: AttachmentsResult): string {
  const lines = [`Attachments in (${result.samples} questions each; time from the question to the upstream request's start)`];
  for (const m of result.modes) {
    lines.push(`  ${m.mode.padEnd(10)} image ${round(m.imageBytes / 1024 / 1024, 2)} MB · body ${round(m.bodyBytes / 1024 / 1024, 2)} MB · p50 ${m.p50Ms} ms · p99 ${m.p99Ms} ms`);
  }
  const c = result.concurrent;
  lines.push(`  ${c.requests} at once (download, ${round(c.imageBytes / 1024 / 1024, 2)} MB each): ${c.wallMs} ms · RSS peak +${c.rssPeakDeltaMb} MB · heap+external peak +${c.heapPlusExternalPeakDeltaMb} MB`);
  return lines.join('\n');
}
