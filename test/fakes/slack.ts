/**
 * A fake Slack on 127.0.0.1 for driving the real Bolt app: the Web API at
 * /api/{method}, response_url sinks at /respond/{id}, and Socket Mode at
 * /socket. It also plays the Slack side of the Events API: it signs requests
 * to Bolt's HTTP receiver (or sends envelopes over the socket when one is
 * connected). It enforces Slack's rules and records every violation; tests
 * assert `violations` is empty unless they provoked one.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { startFakeSlackFiles, type FakeSlackFile } from './slack-files.ts';

export type { FakeSlackFile } from './slack-files.ts';

export interface FakeUser {
  id: string;
  name: string;
  realName?: string;
  displayName?: string;
  isAdmin?: boolean;
  isOwner?: boolean;
  isBot?: boolean;
  deleted?: boolean;
  /** Slack Connect: the user's own team when it is not the fake's (users.info `team_id`). */
  teamId?: string;
  /** Slack Connect: users.info `is_stranger` (someone from an organisation we do not share a channel with). */
  isStranger?: boolean;
  /** Enterprise Grid: users.info `enterprise_user` with these workspaces in `teams`. */
  enterprise?: { id: string; teams: string[] };
}

export interface FakeUserGroup {
  id: string;
  handle: string;
  name: string;
  users: string[];
}

export interface FakeBlock {
  type: string;
  text?: { type: string; text: string };
  elements?: Array<Record<string, unknown>>;
  block_id?: string;
  [key: string]: unknown;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  user?: string;
  bot_id?: string;
  text: string;
  blocks?: FakeBlock[];
  subtype?: string;
  /** Between chat.startStream and chat.stopStream (or expiry). */
  streaming: boolean;
  appends: number;
  updates: number;
  lastUpdateAt?: number;
  /** How the message was made: 'user', 'postMessage', 'stream'. */
  origin: 'user' | 'postMessage' | 'stream';
  deleted: boolean;
  /** Ids of the files the bot shared with this message (files.completeUploadExternal). */
  sharedFileIds?: string[];
  /** Files shared with the message (subtype file_share). */
  files?: FakeFile[];
}

/** A file object as events and conversations.replies carry it. */
export interface FakeFile {
  id: string;
  name: string;
  mimetype: string;
  size: number;
  mode: 'hosted';
  /** Served only with `Authorization: Bearer <bot token>` (401 without, 403 with another token). */
  url_private: string;
  url_private_download: string;
}

export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
  /** What the fake answered (ok, error or 429). */
  result: { ok: boolean; error?: string; status: number };
}

export interface Ephemeral {
  via: 'chat.postEphemeral' | 'response_url';
  channel?: string;
  user?: string;
  text: string;
  thread_ts?: string;
  body: Record<string, unknown>;
}

export interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
}

export interface Delivery {
  /** HTTP status from Bolt's receiver (200 for a socket ack). */
  status: number;
  /** Response body text (HTTP) or the ack payload as JSON (socket). */
  body: string;
  eventId?: string;
  ts?: string;
  /** The body that was sent (slash commands), to deliver it again. */
  payload?: Record<string, unknown>;
}

export type SignatureMode = 'valid' | 'bad' | 'stale' | 'missing';

export interface StreamRules {
  /** unsupported: chat.startStream fails with `unsupportedError`. */
  mode: 'ok' | 'unsupported';
  unsupportedError: string;
  /** After this many chat.appendStream calls on one message the stream expires (message_not_in_streaming_state). */
  expireAfterAppends?: number;
}

export interface FakeSlackOptions {
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  teamId?: string;
  botUserId?: string;
  botId?: string;
  /** The clock the rate rules use (share the app's fake clock). */
  now?: () => number;
}

export interface FakeSlack {
  readonly url: string;
  /** For SLACK_API_URL / clientOptions.slackApiUrl. */
  readonly apiUrl: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly signingSecret: string;
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  /** Bolt's HTTP endpoint, e.g. http://127.0.0.1:PORT/slack/events (HTTP mode). */
  receiverUrl: string | undefined;
  readonly users: Map<string, FakeUser>;
  readonly calls: ApiCall[];
  readonly violations: string[];
  readonly ephemerals: Ephemeral[];
  readonly responses: ResponseUrlPost[];
  readonly statuses: Array<{ channel: string; threadTs: string; status: string }>;
  /** Socket Mode acks: envelope id and payload. */
  readonly acks: Array<{ envelopeId: string; payload: unknown }>;
  readonly streams: StreamRules;
  /** User groups (usergroups.list with include_users); failNext('usergroups.list', …) makes the lookup fail. */
  readonly userGroups: FakeUserGroup[];
  /** Files shared with files.uploadV2 (getUploadURLExternal, the upload, completeUploadExternal), bytes included. */
  readonly files: FakeSlackFile[];
  addUser(user: FakeUser): void;
  /** Called after every Web API call with what the fake answered (benchmarks time deliveries with it). */
  onCall(listener: (call: ApiCall, response: Record<string, unknown>) => void): () => void;
  callsOf(method: string): ApiCall[];
  /** The next `times` calls of `method` fail with this Slack error (e.g. msg_too_long); not counted as violations. */
  failNext(method: string, error: string, times?: number): void;
  /** The next call of `method` gets 429 with Retry-After (seconds); calls before it passes are violations. */
  rateLimitNext(method: string, retryAfterSeconds: number): void;
  /** The next call of `method` gets no answer until release() (a slow Slack); `arrived` resolves when it comes in. */
  holdNext(method: string): { arrived: Promise<void>; release(): void };
  /** Messages in a channel (top level) or in one thread (parent first), oldest first, deleted ones left out. */
  messages(channel: string, threadTs?: string): FakeMessage[];
  /** Bot messages in a channel or thread. */
  botMessages(channel: string, threadTs?: string): FakeMessage[];
  /** What a person sees of a message: its blocks' text, or its text. */
  visibleText(message: FakeMessage): string;
  socketConnected(): boolean;
  /** Resolves when a Socket Mode client has connected and got its hello. */
  waitForSocket(timeoutMs?: number): Promise<void>;

  /** A user message mentioning the bot in a channel (or a thread), delivered as app_mention. */
  mention(input: { user: string; channel: string; text: string; threadTs?: string; eventId?: string; signature?: SignatureMode; retryNum?: number; files?: FakeFile[] }): Promise<Delivery>;
  /** A DM to the bot, delivered as a message event (channel_type im; subtype file_share with files). */
  dm(input: { user: string; channel: string; text: string; threadTs?: string; eventId?: string; signature?: SignatureMode; files?: FakeFile[] }): Promise<Delivery>;
  /** Puts a file on the fake's private file host; share it with mention/dm `files`. */
  uploadFile(input: { name: string; mimetype: string; data: Buffer }): FakeFile;
  /** Downloads of url_private: served with the bot token, refused without it or with another token. */
  readonly fileDownloads: { served: number; refused: number };
  /** Re-delivers an event body already sent (Slack's retry after a slow ack). */
  redeliver(delivery: Delivery, retryNum?: number): Promise<Delivery>;
  /** A message the bot is not told about (e.g. a thread reply without a mention). */
  addUserMessage(input: { user: string; channel: string; text: string; threadTs?: string }): FakeMessage;
  slashCommand(input: { command: string; text: string; user: string; channel: string; signature?: SignatureMode }): Promise<Delivery>;
  clickButton(input: { user: string; channel: string; messageTs: string; actionId: string; value: string; threadTs?: string }): Promise<Delivery>;
  /**
   * Extensions (test/fakes/slack-native.ts): more Web API methods, and raw
   * HTTP routes outside /api (file uploads). A handler returns undefined for
   * what it does not serve.
   */
  extendApi(handler: (method: string, args: Record<string, unknown>) => { body: Record<string, unknown> } | undefined): void;
  extendHttp(handler: (path: string, body: Buffer) => { status: number; body: string } | undefined): void;
  /** Appends a message as Slack itself would (an assistant thread's root). */
  addMessage(message: Omit<FakeMessage, 'streaming' | 'appends' | 'updates' | 'deleted' | 'ts'>): FakeMessage;
  /** Sends an event of any type as an events_api delivery. */
  sendEvent(event: Record<string, unknown>, eventId?: string): Promise<Delivery>;
  /** Sends any body signed to the receiver (HTTP) or as an envelope (socket). */
  deliver(kind: 'events_api' | 'slash_commands' | 'interactive', payload: Record<string, unknown>, options?: { signature?: SignatureMode; retryNum?: number }): Promise<Delivery>;
  close(): Promise<void>;
}

const TEXT_FIELDS_METHODS = new Set([
  'chat.postMessage',
  'chat.update',
  'chat.postEphemeral',
  'chat.startStream',
  'chat.appendStream',
  'chat.stopStream',
]);

const BROADCAST_SEQUENCE = /<!(channel|here|everyone)(\|[^>]*)?>|<!subteam\^/i;
const BARE_BROADCAST = /(^|[^\w@\u2060])@(here|channel|everyone)\b/i;

/** Slack's documented and observed limits. */
export const SLACK_LIMITS = {
  postMessageText: 40_000,
  updateText: 4_000,
  sectionText: 3_000,
  blocks: 50,
  markdownText: 12_000,
  updateIntervalMs: 1_000,
} as const;

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const now = options.now ?? (() => Date.now());
  const botToken = options.botToken ?? 'xoxb-fake-bot-token';
  const appToken = options.appToken ?? 'xapp-fake-app-token';
  const signingSecret = options.signingSecret ?? 'fake-signing-secret-0123456789';
  const teamId = options.teamId ?? 'T0FAKE';
  const botUserId = options.botUserId ?? 'U0BOT';
  const botId = options.botId ?? 'B0BOT';

  const users = new Map<string, FakeUser>();
  const userGroups: FakeUserGroup[] = [];
  const channels = new Map<string, FakeMessage[]>();
  const files = new Map<string, { mimetype: string; data: Buffer }>();
  const calls: ApiCall[] = [];
  const violations: string[] = [];
  const ephemerals: Ephemeral[] = [];
  const responses: ResponseUrlPost[] = [];
  const statuses: Array<{ channel: string; threadTs: string; status: string }> = [];
  const acks: Array<{ envelopeId: string; payload: unknown }> = [];
  const streams: StreamRules = { mode: 'ok', unsupportedError: 'unknown_method' };
  const provoked = new Map<string, number>();
  const injectedFailures = new Map<string, { error: string; times: number }>();
  const holds = new Map<string, { arrive: () => void; released: Promise<void> }>();
  const callListeners: Array<(call: ApiCall, response: Record<string, unknown>) => void> = [];
  const blockedUntil = new Map<string, number>();
  const apiExtensions: Array<(method: string, args: Record<string, unknown>) => { body: Record<string, unknown> } | undefined> = [];
  const httpExtensions: Array<(path: string, body: Buffer) => { status: number; body: string } | undefined> = [];
  let seq = 0;
  let eventSeq = 0;

  users.set(botUserId, { id: botUserId, name: 'switchboard', realName: 'Switchboard', isBot: true });
  const uploads = await startFakeSlackFiles((text) => violation(text));

  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
  const list = (channel: string) => {
    let messages = channels.get(channel);
    if (!messages) {
      messages = [];
      channels.set(channel, messages);
    }
    return messages;
  };
  const find = (channel: string, ts: string) => list(channel).find((m) => m.ts === ts && !m.deleted);

  const violation = (text: string) => {
    violations.push(text);
  };

  function checkText(method: string, field: string, value: unknown, markdown: boolean, linkNames: boolean) {
    if (typeof value !== 'string') return;
    if (BROADCAST_SEQUENCE.test(value)) violation(`${method}: ${field} contains a broadcast mention: ${JSON.stringify(value.slice(0, 200))}`);
    if ((markdown || linkNames) && BARE_BROADCAST.test(value)) {
      violation(`${method}: ${field} contains a bare @here/@channel/@everyone: ${JSON.stringify(value.slice(0, 200))}`);
    }
  }

  function checkBlocks(method: string, blocks: FakeBlock[] | undefined): string | undefined {
    if (!blocks) return undefined;
    if (!Array.isArray(blocks)) return 'invalid_blocks_format';
    if (blocks.length > SLACK_LIMITS.blocks) {
      violation(`${method}: ${blocks.length} blocks (limit ${SLACK_LIMITS.blocks})`);
      return 'invalid_blocks';
    }
    for (const block of blocks) {
      const text = block.text?.text;
      if (block.type === 'section' && typeof text === 'string' && text.length > SLACK_LIMITS.sectionText) {
        violation(`${method}: section text of ${text.length} characters (limit ${SLACK_LIMITS.sectionText})`);
        return 'invalid_blocks';
      }
      checkText(method, 'blocks', JSON.stringify(block), false, false);
    }
    return undefined;
  }

  function userJson(user: FakeUser) {
    return {
      id: user.id,
      team_id: user.teamId ?? teamId,
      name: user.name,
      deleted: user.deleted ?? false,
      real_name: user.realName ?? user.name,
      is_admin: user.isAdmin ?? false,
      is_owner: user.isOwner ?? false,
      is_primary_owner: false,
      is_bot: user.isBot ?? false,
      ...(user.isStranger !== undefined ? { is_stranger: user.isStranger } : {}),
      ...(user.enterprise
        ? {
            enterprise_user: {
              id: user.id,
              enterprise_id: user.enterprise.id,
              enterprise_name: 'Fake Enterprise',
              is_admin: user.isAdmin ?? false,
              is_owner: user.isOwner ?? false,
              teams: user.enterprise.teams,
            },
          }
        : {}),
      profile: { real_name: user.realName ?? user.name, display_name: user.displayName ?? '' },
    };
  }

  function messageJson(m: FakeMessage) {
    return {
      type: 'message',
      ts: m.ts,
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
      ...(m.user ? { user: m.user } : {}),
      ...(m.bot_id ? { bot_id: m.bot_id } : {}),
      ...(m.subtype ? { subtype: m.subtype } : {}),
      text: m.text,
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.files ? { files: m.files } : {}),
    };
  }

  type Answer = { status?: number; headers?: Record<string, string>; body: Record<string, unknown> };
  const ok = (body: Record<string, unknown> = {}): Answer => ({ body: { ok: true, ...body } });
  const fail = (error: string): Answer => ({ body: { ok: false, error } });

  function handleApi(method: string, args: Record<string, unknown>, token: string | undefined): Answer {
    const expected = method === 'apps.connections.open' ? appToken : botToken;
    if (token !== expected) return fail(token ? 'invalid_auth' : 'not_authed');

    const injected = injectedFailures.get(method);
    if (injected && injected.times > 0) {
      injected.times -= 1;
      if (injected.times === 0) injectedFailures.delete(method);
      return fail(injected.error);
    }
    const forced = provoked.get(method);
    if (forced !== undefined) {
      provoked.delete(method);
      blockedUntil.set(method, now() + forced * 1000);
      return { status: 429, headers: { 'retry-after': String(forced) }, body: { ok: false, error: 'ratelimited' } };
    }
    const blocked = blockedUntil.get(method);
    if (blocked !== undefined && now() < blocked) {
      violation(`${method} called ${blocked - now()} ms before its Retry-After passed`);
      return { status: 429, headers: { 'retry-after': String(Math.ceil((blocked - now()) / 1000)) }, body: { ok: false, error: 'ratelimited' } };
    }

    if (TEXT_FIELDS_METHODS.has(method)) {
      const linkNames = args.link_names === true || args.link_names === 'true' || args.link_names === '1' || args.parse === 'full';
      checkText(method, 'text', args.text, false, linkNames);
      checkText(method, 'markdown_text', args.markdown_text, true, false);
    }
    const channel = typeof args.channel === 'string' ? args.channel : typeof args.channel_id === 'string' ? args.channel_id : '';
    const blocks = args.blocks as FakeBlock[] | undefined;
    const text = typeof args.text === 'string' ? args.text : '';

    switch (method) {
      case 'auth.test':
        return ok({ url: 'https://fake.slack.test/', team: 'Fake Team', user: 'switchboard', team_id: teamId, user_id: botUserId, bot_id: botId });
      case 'apps.connections.open':
        return ok({ url: `${wsBase}/socket?ticket=${randomUUID()}` });
      case 'usergroups.list':
        return ok({
          usergroups: userGroups.map((g) => ({ id: g.id, team_id: teamId, handle: g.handle, name: g.name, ...(args.include_users ? { users: [...g.users], user_count: g.users.length } : { user_count: g.users.length }) })),
        });
      case 'users.info': {
        const user = users.get(String(args.user));
        return user ? ok({ user: userJson(user) }) : fail('user_not_found');
      }
      case 'chat.postMessage': {
        if (!channel) return fail('channel_not_found');
        if (!text && !blocks) return fail('no_text');
        if (text.length > SLACK_LIMITS.postMessageText) {
          violation(`chat.postMessage: text of ${text.length} characters (limit ${SLACK_LIMITS.postMessageText})`);
          return fail('msg_too_long');
        }
        const bad = checkBlocks(method, blocks);
        if (bad) return fail(bad);
        const threadTs = typeof args.thread_ts === 'string' && args.thread_ts !== '' ? args.thread_ts : undefined;
        if (threadTs && !find(channel, threadTs)) return fail('thread_not_found');
        const message: FakeMessage = {
          channel,
          ts: nextTs(),
          thread_ts: threadTs,
          user: botUserId,
          bot_id: botId,
          text,
          blocks,
          streaming: false,
          appends: 0,
          updates: 0,
          origin: 'postMessage',
          deleted: false,
        };
        list(channel).push(message);
        return ok({ channel, ts: message.ts, message: messageJson(message) });
      }
      case 'chat.update': {
        const message = find(channel, String(args.ts));
        if (!message) return fail('message_not_found');
        if (message.user !== botUserId) return fail('cant_update_message');
        if (message.streaming) return fail('cant_update_message');
        if (text.length > SLACK_LIMITS.updateText) {
          violation(`chat.update: text of ${text.length} characters (limit ~${SLACK_LIMITS.updateText})`);
          return fail('msg_too_long');
        }
        const bad = checkBlocks(method, blocks);
        if (bad) return fail(bad);
        if (message.lastUpdateAt !== undefined && now() - message.lastUpdateAt < SLACK_LIMITS.updateIntervalMs) {
          violation(`chat.update: message ${message.ts} updated ${now() - message.lastUpdateAt} ms after its last update`);
          return { status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } };
        }
        message.lastUpdateAt = now();
        message.updates += 1;
        if (args.text !== undefined) message.text = text;
        if (blocks !== undefined) message.blocks = blocks.length > 0 ? blocks : undefined;
        return ok({ channel, ts: message.ts, text: message.text });
      }
      case 'chat.delete': {
        const message = find(channel, String(args.ts));
        if (!message) return fail('message_not_found');
        if (message.user !== botUserId) return fail('cant_delete_message');
        message.deleted = true;
        return ok({ channel, ts: message.ts });
      }
      case 'chat.postEphemeral': {
        if (!channel) return fail('channel_not_found');
        if (!users.has(String(args.user))) return fail('user_not_found');
        const bad = checkBlocks(method, blocks);
        if (bad) return fail(bad);
        ephemerals.push({
          via: 'chat.postEphemeral',
          channel,
          user: String(args.user),
          text,
          thread_ts: typeof args.thread_ts === 'string' ? args.thread_ts : undefined,
          body: args,
        });
        return ok({ message_ts: nextTs() });
      }
      case 'chat.startStream': {
        if (streams.mode === 'unsupported') return fail(streams.unsupportedError);
        const threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : '';
        if (!channel || !threadTs) return fail('invalid_arguments');
        if (!find(channel, threadTs)) return fail('thread_not_found');
        const markdown = typeof args.markdown_text === 'string' ? args.markdown_text : '';
        if (markdown.length > SLACK_LIMITS.markdownText) {
          violation(`chat.startStream: markdown_text of ${markdown.length} characters`);
          return fail('msg_too_long');
        }
        const message: FakeMessage = {
          channel,
          ts: nextTs(),
          thread_ts: threadTs,
          user: botUserId,
          bot_id: botId,
          text: markdown,
          streaming: true,
          appends: 0,
          updates: 0,
          origin: 'stream',
          deleted: false,
        };
        list(channel).push(message);
        return ok({ channel, ts: message.ts });
      }
      case 'chat.appendStream':
      case 'chat.stopStream': {
        const message = find(channel, String(args.ts));
        if (!message) return fail('message_not_found');
        if (!message.streaming) return fail('message_not_in_streaming_state');
        if (method === 'chat.appendStream' && streams.expireAfterAppends !== undefined && message.appends >= streams.expireAfterAppends) {
          message.streaming = false;
          return fail('message_not_in_streaming_state');
        }
        const markdown = typeof args.markdown_text === 'string' ? args.markdown_text : '';
        if (markdown.length > SLACK_LIMITS.markdownText) {
          violation(`${method}: markdown_text of ${markdown.length} characters`);
          return fail('msg_too_long');
        }
        if (method === 'chat.appendStream' && markdown === '') return fail('invalid_arguments');
        message.text += markdown;
        if (method === 'chat.appendStream') message.appends += 1;
        else {
          const bad = checkBlocks(method, blocks);
          if (bad) return fail(bad);
          message.streaming = false;
          if (blocks) message.blocks = blocks;
        }
        return ok({ channel, ts: message.ts });
      }
      case 'conversations.replies': {
        const ts = String(args.ts);
        const parent = find(channel, ts);
        if (!parent) return fail('thread_not_found');
        const thread = list(channel).filter((m) => !m.deleted && (m.ts === ts || m.thread_ts === ts));
        thread.sort((a, b) => Number(a.ts) - Number(b.ts));
        return ok({ messages: thread.map(messageJson), has_more: false, response_metadata: { next_cursor: '' } });
      }
      case 'files.getUploadURLExternal': {
        const answer = uploads.getUploadURLExternal(args);
        return answer.ok ? ok(answer) : fail(answer.error);
      }
      case 'files.completeUploadExternal': {
        const answer = uploads.completeUploadExternal(args, (into, threadTs, shared) => {
          if (threadTs && !find(into, threadTs)) return false;
          const comment = shared[0]?.initialComment ?? '';
          list(into).push({ channel: into, ts: nextTs(), thread_ts: threadTs, user: botUserId, bot_id: botId, text: comment, streaming: false, appends: 0, updates: 0, origin: 'postMessage', deleted: false, sharedFileIds: shared.map((f) => f.id) });
          return true;
        });
        return answer.ok ? ok(answer) : fail(answer.error);
      }
      case 'assistant.threads.setStatus': {
        statuses.push({ channel: String(args.channel_id), threadTs: String(args.thread_ts), status: typeof args.status === 'string' ? args.status : '' });
        return ok();
      }
      default:
        for (const handler of apiExtensions) {
          const answer = handler(method, args);
          if (answer) return answer;
        }
        return fail('unknown_method');
    }
  }

  // --- HTTP server ------------------------------------------------------------

  const server = createServer((req, res) => {
    void handleHttp(req, res).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  function parseArgs(raw: string, contentType: string | undefined): Record<string, unknown> {
    if (raw === '') return {};
    if (contentType?.includes('application/json')) return JSON.parse(raw) as Record<string, unknown>;
    const args: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(raw)) {
      if ((key === 'blocks' || key === 'attachments' || key === 'chunks' || key === 'metadata') && /^[[{]/.test(value)) {
        args[key] = JSON.parse(value);
      } else args[key] = value;
    }
    return args;
  }

  async function handleHttp(req: IncomingMessage, res: ServerResponse) {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const rawBytes = await readBody(req);
    const raw = rawBytes.toString('utf8');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const file = /^\/files-pri\/[^/]+-(F\w+)\//.exec(path);
    if (file && req.method === 'GET') {
      const hosted = files.get(file[1]!);
      const auth = req.headers.authorization;
      // Slack serves private files only to the token's app; here: 401 without a token, 403 with another one.
      const status = !hosted ? 404 : auth === undefined ? 401 : auth !== `Bearer ${botToken}` ? 403 : 200;
      if (status === 200) fake.fileDownloads.served++;
      else fake.fileDownloads.refused++;
      res.writeHead(status, { 'content-type': status === 200 ? hosted!.mimetype : 'text/html' });
      res.end(status === 200 ? hosted!.data : '<html>sign in</html>');
      return;
    }
    if (path.startsWith('/respond/')) {
      const body = parseArgs(raw, req.headers['content-type']);
      const id = path.slice('/respond/'.length);
      responses.push({ id, body });
      checkText('response_url', 'text', body.text, false, false);
      checkBlocks('response_url', body.blocks as FakeBlock[] | undefined);
      if (body.response_type !== 'in_channel' && body.delete_original !== true) {
        ephemerals.push({ via: 'response_url', text: typeof body.text === 'string' ? body.text : '', body });
      }
      send(200, { ok: true });
      return;
    }
    for (const handler of httpExtensions) {
      const answer = handler(path, rawBytes);
      if (answer) {
        res.writeHead(answer.status, { 'content-type': 'text/plain' });
        res.end(answer.body);
        return;
      }
    }
    const api = /^\/api\/([\w.]+)$/.exec(path);
    if (!api || req.method !== 'POST') {
      send(404, { ok: false, error: 'unknown_method' });
      return;
    }
    const method = api[1]!;
    let args: Record<string, unknown>;
    try {
      args = parseArgs(raw, req.headers['content-type']);
    } catch {
      send(200, { ok: false, error: 'invalid_form_data' });
      return;
    }
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : typeof args.token === 'string' ? args.token : undefined;
    const hold = holds.get(method);
    if (hold) {
      holds.delete(method);
      hold.arrive();
      await hold.released;
    }
    const answer = handleApi(method, args, token);
    const call: ApiCall = { method, args, at: now(), result: { ok: answer.body.ok === true, error: answer.body.error as string | undefined, status: answer.status ?? 200 } };
    calls.push(call);
    send(answer.status ?? 200, answer.body, answer.headers);
    for (const listener of [...callListeners]) listener(call, answer.body);
  }

  // --- Socket Mode -------------------------------------------------------------

  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  const pendingAcks = new Map<string, (payload: unknown) => void>();
  let socketWaiters: Array<() => void> = [];
  server.on('upgrade', (req, socket: Socket, head) => {
    if (!req.url?.startsWith('/socket')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('message', (data: Buffer) => {
        let message: { envelope_id?: string; payload?: unknown };
        try {
          message = JSON.parse(data.toString()) as { envelope_id?: string; payload?: unknown };
        } catch {
          violation('socket: a frame that is not JSON');
          return;
        }
        if (!message.envelope_id) return;
        acks.push({ envelopeId: message.envelope_id, payload: message.payload });
        pendingAcks.get(message.envelope_id)?.(message.payload);
        pendingAcks.delete(message.envelope_id);
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake-slack', approximate_connection_time: 18060 }, connection_info: { app_id: 'A0FAKE' } }));
      const waiters = socketWaiters;
      socketWaiters = [];
      for (const wake of waiters) wake();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const wsBase = `ws://127.0.0.1:${port}`;

  // --- The Slack side of the Events API ------------------------------------------

  function sign(body: string, timestamp: number, secret: string) {
    return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  }

  const sentBodies = new Map<string, { kind: 'events_api'; payload: Record<string, unknown> }>();

  const fake: FakeSlack = {
    url: base,
    apiUrl: `${base}/api/`,
    botToken,
    appToken,
    signingSecret,
    teamId,
    botUserId,
    botId,
    receiverUrl: undefined,
    users,
    calls,
    violations,
    ephemerals,
    responses,
    statuses,
    acks,
    streams,
    userGroups,
    files: uploads.files,
    addUser(user) {
      users.set(user.id, user);
    },
    onCall(listener) {
      callListeners.push(listener);
      return () => {
        const i = callListeners.indexOf(listener);
        if (i >= 0) callListeners.splice(i, 1);
      };
    },
    callsOf(method) {
      return calls.filter((c) => c.method === method);
    },
    failNext(method, error, times = 1) {
      injectedFailures.set(method, { error, times });
    },
    rateLimitNext(method, retryAfterSeconds) {
      provoked.set(method, retryAfterSeconds);
    },
    holdNext(method) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      holds.set(method, { arrive, released });
      return { arrived, release };
    },
    messages(channel, threadTs) {
      const all = list(channel).filter((m) => !m.deleted);
      const picked = threadTs ? all.filter((m) => m.ts === threadTs || m.thread_ts === threadTs) : all.filter((m) => !m.thread_ts);
      return picked.sort((a, b) => Number(a.ts) - Number(b.ts));
    },
    botMessages(channel, threadTs) {
      return fake.messages(channel, threadTs).filter((m) => m.user === botUserId);
    },
    visibleText(message) {
      const parts: string[] = [];
      if (message.origin === 'stream' || !message.blocks) parts.push(message.text);
      for (const block of message.blocks ?? []) {
        if (block.type === 'section' && block.text) parts.push(block.text.text);
        if (block.type === 'context') {
          for (const element of block.elements ?? []) if (typeof element.text === 'string') parts.push(element.text);
        }
      }
      return parts.join('\n');
    },
    socketConnected: () => sockets.size > 0,
    async waitForSocket(timeoutMs = 5000) {
      if (sockets.size > 0) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no Socket Mode connection')), timeoutMs);
        socketWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },

    extendApi(handler) {
      apiExtensions.push(handler);
    },
    extendHttp(handler) {
      httpExtensions.push(handler);
    },
    addMessage(input) {
      const message: FakeMessage = { ...input, ts: nextTs(), streaming: false, appends: 0, updates: 0, deleted: false };
      list(input.channel).push(message);
      return message;
    },
    sendEvent(event, eventId) {
      return sendEvent(event, eventId, undefined, undefined, typeof event.event_ts === 'string' ? event.event_ts : '');
    },

    addUserMessage({ user, channel, text, threadTs }) {
      const message: FakeMessage = {
        channel,
        ts: nextTs(),
        thread_ts: threadTs,
        user,
        text,
        streaming: false,
        appends: 0,
        updates: 0,
        origin: 'user',
        deleted: false,
      };
      list(channel).push(message);
      return message;
    },

    uploadFile({ name, mimetype, data }) {
      const id = `F${String(files.size + 1).padStart(8, '0')}`;
      files.set(id, { mimetype, data });
      const url = `${base}/files-pri/${teamId}-${id}/${encodeURIComponent(name)}`;
      return { id, name, mimetype, size: data.length, mode: 'hosted', url_private: url, url_private_download: `${url}?download=1` };
    },

    fileDownloads: { served: 0, refused: 0 },

    async mention({ user, channel, text, threadTs, eventId, signature, retryNum, files: shared }) {
      const message = fake.addUserMessage({ user, channel, text, threadTs });
      if (shared) Object.assign(message, { files: shared, subtype: 'file_share' });
      const event = {
        type: 'app_mention',
        user,
        text,
        ts: message.ts,
        channel,
        event_ts: message.ts,
        team: teamId,
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(shared ? { files: shared } : {}),
      };
      return sendEvent(event, eventId, signature, retryNum, message.ts);
    },

    async dm({ user, channel, text, threadTs, eventId, signature, files: shared }) {
      const message = fake.addUserMessage({ user, channel, text, threadTs });
      if (shared) Object.assign(message, { files: shared, subtype: 'file_share' });
      const event = {
        type: 'message',
        ...(shared ? { subtype: 'file_share', files: shared } : {}),
        channel_type: 'im',
        user,
        text,
        ts: message.ts,
        channel,
        event_ts: message.ts,
        team: teamId,
        ...(threadTs ? { thread_ts: threadTs } : {}),
      };
      return sendEvent(event, eventId, signature, undefined, message.ts);
    },

    async redeliver(delivery, retryNum = 1) {
      const sent = delivery.eventId ? sentBodies.get(delivery.eventId) : undefined;
      if (!sent) throw new Error('nothing to re-deliver');
      const result = await fake.deliver('events_api', sent.payload, { retryNum });
      return { ...result, eventId: delivery.eventId, ts: delivery.ts };
    },

    async slashCommand({ command, text, user, channel, signature }) {
      const payload = {
        token: 'legacy-verification-token',
        team_id: teamId,
        team_domain: 'fake',
        channel_id: channel,
        channel_name: channel.startsWith('D') ? 'directmessage' : 'general',
        user_id: user,
        user_name: users.get(user)?.name ?? user,
        command: command.startsWith('/') ? command : `/${command}`,
        text,
        api_app_id: 'A0FAKE',
        is_enterprise_install: 'false',
        response_url: `${base}/respond/${randomUUID()}`,
        trigger_id: `trigger.${randomUUID()}`,
      };
      return { ...(await fake.deliver('slash_commands', payload, { signature })), payload };
    },

    async clickButton({ user, channel, messageTs, actionId, value, threadTs }) {
      const message = find(channel, messageTs);
      const payload = {
        type: 'block_actions',
        user: { id: user, username: users.get(user)?.name ?? user, name: users.get(user)?.name ?? user, team_id: teamId },
        api_app_id: 'A0FAKE',
        token: 'legacy-verification-token',
        container: { type: 'message', message_ts: messageTs, channel_id: channel, is_ephemeral: false, ...(threadTs ? { thread_ts: threadTs } : {}) },
        trigger_id: `trigger.${randomUUID()}`,
        team: { id: teamId, domain: 'fake' },
        enterprise: null,
        is_enterprise_install: false,
        channel: { id: channel, name: 'general' },
        message: message ? messageJson(message) : { ts: messageTs, type: 'message', text: '' },
        state: { values: {} },
        response_url: `${base}/respond/${randomUUID()}`,
        actions: [
          { action_id: actionId, block_id: 'actions', text: { type: 'plain_text', text: 'Stop', emoji: true }, value, type: 'button', action_ts: String(Date.now() / 1000) },
        ],
      };
      return fake.deliver('interactive', payload);
    },

    async deliver(kind, payload, deliverOptions = {}) {
      const [socket] = sockets;
      if (socket) {
        const envelopeId = randomUUID();
        const acked = new Promise<unknown>((resolve, reject) => {
          const timer = setTimeout(() => {
            pendingAcks.delete(envelopeId);
            reject(new Error(`no ack for envelope ${envelopeId} (${kind})`));
          }, 5000);
          pendingAcks.set(envelopeId, (ackPayload) => {
            clearTimeout(timer);
            resolve(ackPayload);
          });
        });
        socket.send(
          JSON.stringify({
            envelope_id: envelopeId,
            type: kind,
            payload,
            accepts_response_payload: kind !== 'events_api',
            ...(kind === 'events_api' ? { retry_attempt: deliverOptions.retryNum ?? 0, retry_reason: deliverOptions.retryNum ? 'timeout' : '' } : {}),
          }),
        );
        const ackPayload = await acked;
        return { status: 200, body: JSON.stringify(ackPayload ?? null) };
      }
      if (!fake.receiverUrl) throw new Error('no receiver: set receiverUrl (HTTP mode) or connect a Socket Mode client');
      const body =
        kind === 'events_api'
          ? JSON.stringify(payload)
          : kind === 'interactive'
            ? new URLSearchParams({ payload: JSON.stringify(payload) }).toString()
            : new URLSearchParams(Object.entries(payload).map(([k, v]): [string, string] => [k, String(v)])).toString();
      const mode = deliverOptions.signature ?? 'valid';
      const timestamp = Math.floor(Date.now() / 1000) - (mode === 'stale' ? 600 : 0);
      const headers: Record<string, string> = {
        'content-type': kind === 'events_api' ? 'application/json' : 'application/x-www-form-urlencoded',
      };
      if (mode !== 'missing') {
        headers['x-slack-request-timestamp'] = String(timestamp);
        headers['x-slack-signature'] = sign(body, timestamp, mode === 'bad' ? `${signingSecret}-wrong` : signingSecret);
      }
      if (deliverOptions.retryNum) {
        headers['x-slack-retry-num'] = String(deliverOptions.retryNum);
        headers['x-slack-retry-reason'] = 'http_timeout';
      }
      const response = await fetch(fake.receiverUrl, { method: 'POST', headers, body });
      return { status: response.status, body: await response.text() };
    },

    async close() {
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await uploads.close();
    },
  };

  async function sendEvent(event: Record<string, unknown>, eventId: string | undefined, signature: SignatureMode | undefined, retryNum: number | undefined, ts: string) {
    const id = eventId ?? `Ev${String(++eventSeq).padStart(8, '0')}`;
    const payload = {
      token: 'legacy-verification-token',
      team_id: teamId,
      api_app_id: 'A0FAKE',
      event,
      type: 'event_callback',
      event_id: id,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: teamId, user_id: botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `ctx-${id}`,
    };
    sentBodies.set(id, { kind: 'events_api', payload });
    const result = await fake.deliver('events_api', payload, { signature, retryNum });
    return { ...result, eventId: id, ts };
  }

  return fake;
}
