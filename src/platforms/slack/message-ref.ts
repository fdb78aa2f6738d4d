/**
 * PostedMessage.ref on Slack: the message, its thread, whether it may still be
 * a native stream, the "Thinking…"/Stop message shown beside a stream, and the
 * header above the first message of an /ask answer (so crash recovery keeps it).
 */
export interface SlackMessageRef {
  channel: string;
  ts?: string;
  thread?: string;
  control?: string;
  streaming?: boolean;
  header?: string;
}

export function slackMessageRef(ref: SlackMessageRef): string {
  return JSON.stringify(ref);
}

export function parseSlackMessageRef(ref: string): SlackMessageRef {
  const parsed = JSON.parse(ref) as Partial<Record<keyof SlackMessageRef, unknown>>;
  const optional = (value: unknown) => (typeof value === 'string' ? value : undefined);
  if (typeof parsed.channel !== 'string') throw new TypeError(`not a Slack message reference: ${ref.slice(0, 100)}`);
  return {
    channel: parsed.channel,
    ts: optional(parsed.ts),
    thread: optional(parsed.thread),
    control: optional(parsed.control),
    streaming: parsed.streaming === true,
    header: optional(parsed.header),
  };
}
