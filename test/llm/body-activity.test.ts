/** The body tap under every streaming round: every piece reported, whole SSE events handed to the SDK, nothing changed. */
import { describe, expect, it } from 'vitest';
import { bodyActivityOption, withBodyActivity } from '../../src/llm/body-activity.ts';

/** A fetch whose response body arrives in exactly these pieces. */
function piecewiseFetch(pieces: string[]) {
  return async () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const piece of pieces) controller.enqueue(Buffer.from(piece));
          controller.close();
        },
      }),
      { status: 200, headers: { 'content-type': 'text/event-stream' } },
    );
}

async function readThrough(pieces: string[]): Promise<{ handed: string[]; reported: number }> {
  let reported = 0;
  const fetchImpl = withBodyActivity(piecewiseFetch(pieces));
  const response = await fetchImpl('http://127.0.0.1/x', bodyActivityOption(() => reported++));
  const handed: string[] = [];
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) handed.push(Buffer.from(chunk).toString());
  return { handed, reported };
}

describe('body activity tap', () => {
  it('reports every piece but hands over whole events: a long line split in many pieces arrives as one', async () => {
    const line = `data: {"x":"${'a'.repeat(5000)}"}\n\n`;
    const pieces = ['data: {"first":1}\n\n: OPENROUTER PROCESSING\n\n', ...line.match(/[\s\S]{1,700}/g)!, 'data: [DONE]\n\n'];
    const { handed, reported } = await readThrough(pieces);
    expect(reported).toBe(pieces.length);
    expect(handed.join('')).toBe(pieces.join(''));
    expect(handed).toEqual(['data: {"first":1}\n\n: OPENROUTER PROCESSING\n\n', line, 'data: [DONE]\n\n']);
  });

  it('finds a boundary split across two pieces, keeps what follows it, and flushes an unterminated tail', async () => {
    const { handed } = await readThrough(['data: 1\n', '\ndata: 2', '\n\nda', 'ta: 3']);
    expect(handed.join('')).toBe('data: 1\n\ndata: 2\n\ndata: 3');
    expect(handed).toEqual(['data: 1\n\n', 'data: 2\n\n', 'data: 3']);
  });

  it('passes \\r line ends through as they come (the SDK handles any split)', async () => {
    const pieces = ['data: 1\r\n', '\r\ndata: 2', '\r\n\r\n'];
    const { handed } = await readThrough(pieces);
    expect(handed).toEqual(pieces);
  });

  it('leaves a request without the option untouched', async () => {
    const fetchImpl = withBodyActivity(piecewiseFetch(['a', 'b']));
    const response = await fetchImpl('http://127.0.0.1/x', {});
    expect(await response.text()).toBe('ab');
  });
});
