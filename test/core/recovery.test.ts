/**
 * Crash recovery in one process: a real core whose answers hang is "killed" by
 * stopping its heartbeat and abandoning it unsettled; a second core on the same
 * SQLite file takes its answers over.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AskResult } from '../../src/core/pipeline.ts';
import { ANSWER_RECORD_RETENTION_MS, INTERRUPTED_NOTE, interruptedText, pruneAnswerRecords, startLiveness, sweepOrphans, type Liveness } from '../../src/core/recovery.ts';
import { systemClock, type ChatAdapter, type Clock, type MessageSurface, type NativeStream } from '../../src/core/types.ts';
import { startFakeOpenRouter, type FakeOpenRouter } from '../fakes/openrouter.ts';
import { startTestApp, TEST_API_KEY, type TestApp } from '../helpers/test-app.ts';
import { waitFor } from '../helpers/wait.ts';


/** One channel's messages; every post gets a ref naming the message (a native stream's once it has text). */
function createSurface(name: string, options: { native?: boolean } = {}) {
  const messages = new Map<string, string>();
  let next = 0;
  const surface: MessageSurface = {
    maxMessageLength: 2000,
    rateLimit: { count: 100, windowMs: 1000 },
    budgetKey: name,
    async post(text) {
      const id = `${name}-${++next}`;
      messages.set(id, text);
      return { id, ref: JSON.stringify({ surface: name, id }) };
    },
    async edit(id, text) {
      messages.set(id, text);
    },
  };
  if (options.native) {
    surface.stream = (): NativeStream => {
      const id = `${name}-stream`;
      return {
        async append(text) {
          messages.set(id, (messages.get(id) ?? '') + text);
        },
        async stop(end) {
          messages.set(id, `${messages.get(id) ?? ''}\n${end.footer?.model ?? ''}`);
        },
        ref: () => (messages.has(id) ? JSON.stringify({ surface: name, id, stream: true }) : undefined),
      };
    };
  }
  return { surface, messages, text: () => [...messages.values()].join('\n') };
}

const place = (channelId: string) => ({ platform: 'test', workspaceId: 'w1', channelId });

describe('crash recovery in one process', () => {
  let dir: string;
  let openrouter: FakeOpenRouter;
  const apps: TestApp[] = [];
  const livenesses: Liveness[] = [];

  afterEach(async () => {
    await Promise.all(livenesses.splice(0).map((l) => l.stop()));
    for (const app of apps.splice(0)) await app.close();
    await openrouter.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(instanceId: string): Promise<TestApp> {
    const app = await startTestApp({
      openrouter,
      instanceId,
      env: { DATABASE_URL: `sqlite:${join(dir, 'switchboard.db')}`, INSTANCE_HEARTBEAT_MS: '20', QUOTA_MAX_CONCURRENT: '3' },
    });
    apps.push(app);
    return app;
  }

  it('settles a dead process\'s answers as interrupted once, frees its quota and marks its messages', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-recovery-'));
    openrouter = await startFakeOpenRouter({ apiKey: TEST_API_KEY });
    openrouter.setDefault((body) => {
      const prompt = body.messages.at(-1)?.content ?? '';
      return prompt.startsWith('hang') ? { text: ['partial ', `answer to ${prompt}`], hang: 'after-text' } : { text: [`done: ${prompt}`] };
    });

    // Process A: heartbeats, answers bob in full and leaves three of alice's answers hanging.
    const a = await start('proc-a');
    const livenessA = startLiveness(a.core, []);
    livenessA.startSweeping().catch(() => undefined);
    const ask = (app: TestApp, userId: string, prompt: string, surface: MessageSurface, channelId: string): Promise<AskResult> =>
      app.core.pipeline.ask({
        place: place(channelId),
        user: { id: userId, name: userId },
        prompt,
        conversationKey: `test:${channelId}:${prompt}`,
        history: async () => [],
        surface,
        isAdmin: false,
      });
    const finished = createSurface('finished');
    expect((await ask(a, 'bob', 'quick one', finished.surface, 'c0')).outcome).toBe('ok');
    const hanging = [createSurface('h1'), createSurface('h2'), createSurface('h3', { native: true })];
    const abandoned = hanging.map((s, i) => ask(a, 'alice', `hang ${i}`, s.surface, `c${i + 1}`));
    for (const pending of abandoned) pending.catch(() => undefined);
    await waitFor(() => hanging.every((s) => s.text().includes('partial answer')), 'the hanging answers to show text');
    expect((await a.core.store.ledger({})).map((row) => [row.userId, row.outcome])).toEqual([['bob', 'ok']]);

    // "Kill" A: no more heartbeats, nothing settled. Its reservations would hold alice's quota for the 15-minute TTL.
    await livenessA.stop();
    const b = await start('proc-b');
    expect((await b.core.store.usage('test', 'w1', 'alice', new Date())).reserved.requests).toBe(3);

    const marks: Array<{ ref: string; note: string; body: string | null }> = [];
    const adapter: ChatAdapter = {
      platform: 'test',
      start: async () => undefined,
      stop: async () => undefined,
      connected: () => true,
      async markInterrupted(ref, ending) {
        marks.push({ ref, note: ending.note, body: ending.body });
      },
    };
    const livenessB = startLiveness(b.core, [adapter]);
    livenesses.push(livenessB);
    await livenessB.startSweeping();
    // A is stale after 3 missed heartbeats (60 ms); B's heartbeat sweeps pick it up.
    await waitFor(async () => (await b.core.store.ledger({})).length === 4, 'the interrupted rows');

    const ledger = await b.core.store.ledger({});
    expect(new Set(ledger.map((row) => row.requestId)).size).toBe(4);
    expect(ledger.filter((row) => row.outcome === 'ok').map((row) => row.userId)).toEqual(['bob']);
    const interrupted = ledger.filter((row) => row.outcome === 'interrupted');
    expect(interrupted).toHaveLength(3);
    for (const row of interrupted) {
      expect(row).toMatchObject({ userId: 'alice', modelRequested: 'openai/gpt-4o-mini', errorKind: 'process-died', tokensIn: 0, tokensOut: 0, costUsd: 0 });
    }
    expect((await b.core.store.usage('test', 'w1', 'alice', new Date())).reserved.requests).toBe(0);

    // Each half-written message was handed to the adapter once, by the ref of the message it streams into.
    expect(marks.map((m) => m.note)).toEqual([INTERRUPTED_NOTE, INTERRUPTED_NOTE, INTERRUPTED_NOTE]);
    // With the answer's clean text as recorded while it streamed: no cursor, no placeholder to strip.
    for (const mark of marks) expect(mark.body?.trim()).toMatch(/^partial( answer to hang \d)?$/);
    expect(marks.map((m) => JSON.parse(m.ref) as unknown)).toEqual(
      expect.arrayContaining([
        { surface: 'h1', id: 'h1-1' },
        { surface: 'h2', id: 'h2-1' },
        { surface: 'h3', id: 'h3-stream', stream: true },
      ]),
    );
    expect(await sweepOrphans(b.core, [adapter])).toBe(0);
    expect(marks).toHaveLength(3);

    // Alice's quota (3 at once) is free again.
    const again = createSurface('again');
    expect((await ask(b, 'alice', 'quick again', again.surface, 'c9')).outcome).toBe('ok');
    expect(again.text()).toContain('done: quick again');
  });

  it('a process swept as dead while alive gets its real usage recorded: the late settle replaces the interrupted row, still one row per request', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-recovery-'));
    openrouter = await startFakeOpenRouter({ apiKey: TEST_API_KEY });
    const a = await start('proc-a');
    const livenessA = startLiveness(a.core, []);
    await livenessA.startSweeping();
    const b = await start('proc-b');
    // A long pause (or a clock jump) on A: the answer keeps streaming, no heartbeat goes out.
    a.openrouter.enqueue({ text: Array.from({ length: 30 }, (_, i) => `w${i} `), chunkDelayMs: 40, usage: { prompt_tokens: 40, completion_tokens: 30, cost: 0.003 } });
    const surface = createSurface('slow');
    const answer = a.core.pipeline.ask({
      place: place('c1'),
      user: { id: 'alice', name: 'alice' },
      prompt: 'a slow one',
      conversationKey: 'k-slow',
      history: async () => [],
      surface: surface.surface,
      isAdmin: false,
    });
    await waitFor(() => surface.text().includes('w0'), 'the answer to start');
    await livenessA.stop();

    // B takes A for dead and writes the interrupted row while A is still streaming.
    const livenessB = startLiveness(b.core, []);
    livenesses.push(livenessB);
    await livenessB.startSweeping();
    await waitFor(async () => (await b.core.store.ledger({})).some((row) => row.outcome === 'interrupted'), 'the sweep');
    expect(a.core.pipeline.running()).toBe(1);

    // A finishes after all: its real usage replaces the sweeper's row.
    const result = await answer;
    expect(result.outcome).toBe('ok');
    const rows = await b.core.store.ledger({});
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ requestId: result.requestId, outcome: 'ok', errorKind: null, tokensIn: 40, tokensOut: 30, costUsd: 0.003 });
    const usage = await b.core.store.usage('test', 'w1', 'alice', new Date());
    expect(usage.day).toEqual({ requests: 1, tokens: 70, usd: 0.003 });
    expect(usage.reserved.requests).toBe(0);
  });

  it('heartbeats and staleness use the database clock: a host hours ahead sweeps no live process, one hours behind is not swept', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-recovery-'));
    openrouter = await startFakeOpenRouter({ apiKey: TEST_API_KEY });
    openrouter.setDefault(() => ({ text: ['partial ', 'answer'], hang: 'after-text' }));
    const HOURS = 3 * 3_600_000;
    const skewed = (offsetMs: number): Clock => ({ now: () => systemClock.now() + offsetMs, sleep: (ms, signal) => systemClock.sleep(ms, signal) });
    const ahead = await startTestApp({ openrouter, instanceId: 'ahead', clock: skewed(HOURS), env: { DATABASE_URL: `sqlite:${join(dir, 'switchboard.db')}`, INSTANCE_HEARTBEAT_MS: '20' } });
    apps.push(ahead);
    const behind = await startTestApp({ openrouter, instanceId: 'behind', clock: skewed(-HOURS), env: { DATABASE_URL: `sqlite:${join(dir, 'switchboard.db')}`, INSTANCE_HEARTBEAT_MS: '20' } });
    apps.push(behind);
    const surfaces = [createSurface('ahead'), createSurface('behind')];
    for (const [i, app] of [ahead, behind].entries()) {
      app.core.pipeline
        .ask({ place: place(`c${i}`), user: { id: `u${i}`, name: `u${i}` }, prompt: 'hang on', conversationKey: `k${i}`, history: async () => [], surface: surfaces[i]!.surface, isAdmin: false })
        .catch(() => undefined);
    }
    await waitFor(() => surfaces.every((s) => s.text().includes('partial')), 'both answers to stream');
    for (const app of [ahead, behind]) {
      const liveness = startLiveness(app.core, []);
      livenesses.push(liveness);
      await liveness.startSweeping();
    }
    // Many heartbeat intervals (20 ms; stale after 60 ms) of both sweeping.
    await new Promise((r) => setTimeout(r, 400));
    expect(await ahead.core.store.ledger({})).toEqual([]);
    expect(ahead.core.pipeline.running()).toBe(1);
    expect(behind.core.pipeline.running()).toBe(1);
    expect(ahead.rawLogs()).not.toContain('a process died with answers running');
    for (const app of [ahead, behind]) app.core.pipeline.stop({}, 'test');
  });

  it('a bookkeeping failure does not fail the answer', async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-recovery-'));
    openrouter = await startFakeOpenRouter({ apiKey: TEST_API_KEY });
    const app = await start('proc-x');
    app.core.store.trackAnswer = () => Promise.reject(new Error('disk full'));
    app.openrouter.enqueue({ text: ['fine anyway'] });
    const surface = createSurface('s');
    const result = await app.core.pipeline.ask({
      place: place('c1'),
      user: { id: 'u1', name: 'u1' },
      prompt: 'hi',
      conversationKey: 'k',
      history: async () => [],
      surface: surface.surface,
      isAdmin: false,
    });
    expect(result.outcome).toBe('ok');
    expect(surface.text()).toContain('fine anyway');
    expect(app.logs.some((line) => line.msg === 'could not record the answer for crash recovery')).toBe(true);
  });
});

describe('interruptedText', () => {
  const note = INTERRUPTED_NOTE;
  it('shows the recorded clean text, then the note', () => {
    expect(interruptedText('The answer is', note, 2000)).toBe(`The answer is\n\n${note}`);
  });
  it('shows the note alone when no text was recorded', () => {
    expect(interruptedText(null, note, 2000)).toBe(note);
    expect(interruptedText('', note, 2000)).toBe(note);
  });
  it('fits the limit', () => {
    const long = interruptedText('x'.repeat(3000), note, 2000);
    expect(long).toHaveLength(2000);
    expect(long.endsWith(`…\n\n${note}`)).toBe(true);
  });
});

describe('answer record housekeeping', () => {
  it('the heartbeat prunes answer records past their retention and keeps the recent ones', async () => {
    const t = await startTestApp();
    try {
      const record = (messageId: string, at: Date) => ({
        platform: 'test',
        channelId: 'c1',
        messageId,
        requestId: null,
        kind: 'answer' as const,
        text: messageId,
        askerId: null,
        askerName: null,
        prompt: null,
        at,
      });
      const now = t.core.clock.now();
      await t.core.store.recordAnswerMessages([record('old', new Date(now - ANSWER_RECORD_RETENTION_MS - 60_000)), record('new', new Date(now - 60_000))]);
      const liveness = startLiveness(t.core, []);
      await waitFor(async () => (await t.core.store.answerRecords('test', 'c1', ['old', 'new'])).length === 1, 'the old record to be pruned');
      await liveness.stop();
      expect((await t.core.store.answerRecords('test', 'c1', ['old', 'new'])).map((r) => r.messageId)).toEqual(['new']);
      expect(await pruneAnswerRecords(t.core)).toBe(0);
    } finally {
      await t.close();
    }
  });
});
