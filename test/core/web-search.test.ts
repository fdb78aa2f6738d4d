import { afterEach, describe, expect, it } from 'vitest';
import { SEARCHING_STATUS } from '../../src/core/pipeline.ts';
import { numberSources } from '../../src/core/sources.ts';
import { createHarness } from '../helpers/invocation.ts';
import { startTestApp, type TestApp } from '../helpers/test-app.ts';

const ada = { id: 'u1', name: 'Ada' };
const admin = { id: 'u9', name: 'Grace', admin: true };

describe('web search', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const bodies = () => app!.openrouter.chatRequests().map((r) => r.body!);
  const serverTools = (body: ReturnType<typeof bodies>[number]) => (body.tools ?? []).filter((t) => t.type === 'openrouter:web_search');

  it('sends the server tool only where web_search is enabled, with max_results and the allowed domains', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(ada, 'tools', 'list', {});
    expect(h.lastReply()).toMatch(/▫️ `web_search`: Search the web/);
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    expect(serverTools(bodies().at(-1)!)).toEqual([]);

    await h.run(admin, 'tools', 'enable', { tool: 'web_search' });
    expect(h.lastReply()).toContain('`web_search` is enabled in this channel');
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    const body = bodies().at(-1)!;
    expect(serverTools(body)).toEqual([{ type: 'openrouter:web_search', parameters: { max_results: 5 } }]);
    // Function tools still go beside it.
    expect(body.tools!.some((t) => t.type === 'function' && t.function?.name === 'calculator')).toBe(true);

    await h.run(admin, 'model', 'option', { option: 'web-search-domains', value: 'Example.com, https://docs.python.org/3/' });
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    expect(serverTools(bodies().at(-1)!)).toEqual([
      { type: 'openrouter:web_search', parameters: { max_results: 5, allowed_domains: ['example.com', 'docs.python.org'] } },
    ]);
    await h.run(admin, 'model', 'option', { option: 'web-search-domains', value: 'not a domain!' });
    expect(h.lastReply()).toContain('takes domains such as');
    await h.run(admin, 'model', 'option', { option: 'web-search-domains', value: 'any' });
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    expect(serverTools(bodies().at(-1)!)[0]!.parameters).toEqual({ max_results: 5 });

    await h.run(admin, 'tools', 'disable', { tool: 'web_search' });
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    expect(serverTools(bodies().at(-1)!)).toEqual([]);
  });

  it('keeps the deprecated :online suffix working: accepted by /model set, sent as is, sources shown', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(admin, 'model', 'set', { model: 'openai/gpt-4o-mini:online' });
    expect(h.lastReply()).toContain('is now `openai/gpt-4o-mini:online`');
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    expect(bodies().at(-1)!.model).toBe('openai/gpt-4o-mini:online');
    expect(h.surfaces[0]!.texts().join('\n')).toContain('[1] First source: https://example.com/first');
  });

  it('numbers the sources by first appearance, once per URL, under the final message; the records keep the clean text', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'web_search' } });
    const h = createHarness(app.core);
    app.openrouter.enqueue({
      text: ['Rust [1] is ', 'fast [2]. Again [1].'],
      citations: [
        { url: 'https://b.example/two', title: 'Second', start_index: 15 },
        { url: 'https://a.example/one', title: 'First\nline', start_index: 5 },
        { url: 'https://a.example/one', title: 'First', start_index: 25 },
      ],
    });
    await h.run(ada, 'ask', undefined, { prompt: 'is rust fast?' });
    const surface = h.surfaces[0]!;
    const [text] = surface.texts();
    expect(text).toMatch(/^Rust \[1\] is fast \[2\]\. Again \[1\]\.\n\nSources:\n\[1\] First line: https:\/\/a\.example\/one\n\[2\] Second: https:\/\/b\.example\/two\n\n/);
    // Sources are not shown while streaming.
    expect(surface.calls.filter((c) => c.text.includes('Sources:')).every((c) => !c.text.includes('▍'))).toBe(true);
    const ids = surface.messages().map((m) => m.id);
    const records = await app.core.store.answerRecords('test', 'c1', ids);
    expect([...records.values()].map((r) => r.text)).toEqual(['Rust [1] is fast [2]. Again [1].']);
  });

  it('lines the sources up with the markers the model wrote when it cites out of order, without rewriting the streamed text', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'web_search' } });
    const h = createHarness(app.core);
    const answer = 'Tokio is popular [2]. Rust is fast [1].';
    app.openrouter.enqueue({
      text: ['Tokio is popular [2]. ', 'Rust is fast [1].'],
      citations: [
        // Arrival order and first appearance both say "tokio first"; the markers say otherwise.
        { url: 'https://tokio.example', title: 'Tokio', start_index: 0, end_index: answer.indexOf(' [2]') },
        { url: 'https://rust.example', title: 'Rust', start_index: answer.indexOf('Rust'), end_index: answer.indexOf(' [1]') },
      ],
    });
    await h.run(ada, 'ask', undefined, { prompt: 'rust async?' });
    const [text] = h.surfaces[0]!.texts();
    expect(text).toMatch(/^Tokio is popular \[2\]\. Rust is fast \[1\]\.\n\nSources:\n\[1\] Rust: https:\/\/rust\.example\n\[2\] Tokio: https:\/\/tokio\.example\n/);
  });

  it('numberSources: without markers, order of first appearance in the text, deduped by URL, arrival order without positions', () => {
    expect(
      numberSources([
        { url: 'https://x/3', title: 'c' },
        { url: 'https://x/2', title: 'b', startIndex: 9 },
        { url: 'https://x/1', title: 'a', startIndex: 4 },
        { url: 'https://x/2', title: 'b again', startIndex: 1 },
        { url: 'https://x/4', title: 'd' },
      ]),
    ).toEqual([
      { n: 1, url: 'https://x/2', title: 'b' },
      { n: 2, url: 'https://x/1', title: 'a' },
      { n: 3, url: 'https://x/3', title: 'c' },
      { n: 4, url: 'https://x/4', title: 'd' },
    ]);
  });

  it('numberSources: a marker inside or right after a citation span names that source, whatever the order', () => {
    // The model cites its second search result first: "[2]" comes before "[1]" in the text.
    const text = 'Rust is fast [2]. It is also safe [1]. Both hold [2].';
    const rust = text.indexOf('Rust');
    const safe = text.indexOf('It is');
    expect(
      numberSources(
        [
          { url: 'https://fast.example', title: 'Fast', startIndex: rust, endIndex: text.indexOf(' [2]') },
          { url: 'https://safe.example', title: 'Safe', startIndex: safe, endIndex: text.indexOf('[1]') + 3 },
        ],
        text,
      ),
    ).toEqual([
      { n: 1, url: 'https://safe.example', title: 'Safe' },
      { n: 2, url: 'https://fast.example', title: 'Fast' },
    ]);
  });

  it('numberSources: a link marker [n](url) wins; unmapped sources take the free numbers; text between span and marker breaks the tie', () => {
    const text = 'See [3](https://c.example) and this claim. Unrelated words [1] later.';
    expect(
      numberSources(
        [
          { url: 'https://a.example', title: 'A', startIndex: text.indexOf('this'), endIndex: text.indexOf(' claim.') + 7 },
          { url: 'https://b.example', title: 'B' },
          { url: 'https://c.example', title: 'C', startIndex: 0, endIndex: 3 },
        ],
        text,
      ),
    ).toEqual([
      // [1] sits after other words, so it is not A's marker: A and B take the free numbers 1 and 2 in order.
      { n: 1, url: 'https://a.example', title: 'A' },
      { n: 2, url: 'https://b.example', title: 'B' },
      { n: 3, url: 'https://c.example', title: 'C' },
    ]);
  });

  it('counts search requests in the ledger', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'web_search' } });
    const h = createHarness(app.core);
    app.openrouter.enqueue({ text: ['searched twice'], webSearchRequests: 2 });
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    await h.run(admin, 'tools', 'disable', { tool: 'web_search' });
    await h.run(ada, 'ask', undefined, { prompt: 'no search' });
    const rows = await app.core.store.ledger({});
    expect(rows.map((r) => [r.outcome, r.webSearchRequests])).toEqual([
      ['ok', 2],
      ['ok', 0],
    ]);
  });

  it('reserves the worst-case search price: max_results × $0.004 on top of the tokens', async () => {
    // 1024 output tokens of gpt-4o-mini cost under $0.001; five results at $0.004 are $0.02.
    app = await startTestApp({ env: { QUOTA_DEFAULT_USD_PER_DAY: '0.01' } });
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'cheap' });
    expect(h.surfaces).toHaveLength(1);
    await h.run(admin, 'tools', 'enable', { tool: 'web_search' });
    await h.run(ada, 'ask', undefined, { prompt: 'search' });
    expect(h.lastReply()).toMatch(/daily spending limit.*could need more/);
    expect(app.openrouter.chatRequests()).toHaveLength(1);
  });

  it('says "🔎 searching…" while the search runs, until the first text', async () => {
    app = await startTestApp({ env: { DEFAULT_TOOLS: 'web_search' } });
    const h = createHarness(app.core);
    app.openrouter.enqueue({ text: ['found ', 'it'], firstTokenDelayMs: 300 });
    await h.run(ada, 'ask', undefined, { prompt: 'news?' });
    const calls = h.surfaces[0]!.calls;
    expect(calls[0]!.text).toContain(SEARCHING_STATUS);
    expect(calls.filter((c) => c.text.includes('found')).every((c) => !c.text.includes(SEARCHING_STATUS))).toBe(true);
    await h.run(admin, 'tools', 'disable', { tool: 'web_search' });
    await h.run(ada, 'ask', undefined, { prompt: 'no search' });
    expect(h.surfaces[1]!.calls.some((c) => c.text.includes(SEARCHING_STATUS))).toBe(false);
  });
});

describe('privacy routing', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const lastProvider = () => app!.openrouter.chatRequests().at(-1)!.body!.provider;

  it('sends provider.zdr or provider.data_collection per the privacy setting', async () => {
    app = await startTestApp();
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastProvider()).toBeUndefined();
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'zdr' });
    await h.run(admin, 'model', 'provider', { sort: 'price' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastProvider()).toEqual({ sort: 'price', zdr: true });
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'no-training' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastProvider()).toEqual({ sort: 'price', data_collection: 'deny' });
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'nope' });
    expect(h.lastReply()).toContain('`privacy` takes zdr');
  });

  it('DEFAULT_PRIVACY sets the default; a channel may set default (any provider) over it', async () => {
    app = await startTestApp({ env: { DEFAULT_PRIVACY: 'zdr' } });
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastProvider()).toEqual({ zdr: true });
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'default' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastProvider()).toBeUndefined();
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'inherit' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(lastProvider()).toEqual({ zdr: true });
  });

  it('tells the asker exactly that no provider of the model meets the zero-data-retention setting', async () => {
    app = await startTestApp();
    app.openrouter.retainsData.add('openai/gpt-4o-mini');
    const h = createHarness(app.core);
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(h.surfaces[0]!.texts()[0]).toContain('You said: hi');
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'zdr' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(h.surfaces[1]!.texts()[0]).toContain(
      "⚠️ No provider of openai/gpt-4o-mini meets this channel's zero-data-retention setting; try another model, or ask an admin for `/model option privacy default`.",
    );
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'no-training' });
    await h.run(ada, 'ask', undefined, { prompt: 'hi' });
    expect(h.surfaces[2]!.texts()[0]).toContain("No provider of openai/gpt-4o-mini meets this channel's no-training (data collection denied) setting");
    const rows = await app.core.store.ledger({});
    expect(rows.map((r) => r.errorKind)).toEqual([null, 'no_private_endpoint', 'no_private_endpoint']);
  });

  it('/model show states the privacy setting and the web search domains, with their provenance', async () => {
    app = await startTestApp({ env: { DEFAULT_PRIVACY: 'no-training' } });
    const h = createHarness(app.core);
    await h.run(ada, 'model', 'show', {});
    expect(h.lastReply()).toContain('**Privacy:** no training (data_collection deny): no providers that train on or keep data _(default)_');
    expect(h.lastReply()).toContain('**Web search domains:** any _(default)_ (web_search is not enabled here)');
    await h.run(admin, 'model', 'option', { option: 'privacy', value: 'zdr', scope: 'server' });
    await h.run(admin, 'model', 'option', { option: 'web-search-domains', value: 'example.com,example.org' });
    await h.run(admin, 'tools', 'enable', { tool: 'web_search' });
    await h.run(ada, 'model', 'show', {});
    expect(h.lastReply()).toContain('**Privacy:** zero data retention (zdr): only providers that keep nothing _(server)_');
    expect(h.lastReply()).toContain('**Web search domains:** example.com, example.org _(channel)_\n');
  });
});
