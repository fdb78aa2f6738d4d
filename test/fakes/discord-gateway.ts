/**
 * The fake Discord Gateway: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE,
 * RESUME (replaying what was missed), dispatches, and forced reconnects.
 * Text frames only (no compression), JSON encoding. Sharding as Discord does
 * it: IDENTIFY's `shard: [id, count]` opens one session per shard, a guild
 * belongs to shard (guild_id >> 22) % count, and an event goes to its guild's
 * shard (events without a guild, DMs, to shard 0).
 */
import { EventEmitter, once } from 'node:events';
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export interface GatewayOptions {
  server: Server;
  token: string;
  /** READY's payload (without session_id / resume_gateway_url). */
  ready(): Record<string, unknown>;
  /** Dispatched after READY, one per guild. */
  guildCreates(): Array<Record<string, unknown>>;
  url(): string;
  violation(text: string): void;
}

interface Dispatched {
  s: number;
  t: string;
  d: unknown;
}

interface Session {
  socket: WebSocket | undefined;
  sessionId: string | undefined;
  seq: number;
  log: Dispatched[];
}

/** The shard a guild's events go to, as Discord computes it. */
export function shardOfGuild(guildId: string, shardCount: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

export class FakeGateway {
  readonly #wss: WebSocketServer;
  readonly #events = new EventEmitter();
  /** One session per shard id; shard 0 alone when the client does not shard. */
  readonly #shards = new Map<number, Session>();
  #shardCount = 1;
  identifies = 0;
  resumes = 0;
  heartbeats = 0;

  constructor(private readonly options: GatewayOptions) {
    this.#wss = new WebSocketServer({ server: options.server });
    this.#wss.on('connection', (socket) => this.#accept(socket));
  }

  /** Connected and identified (or resumed): shard 0, or every shard `count` says. */
  get ready(): boolean {
    return this.#ready(0);
  }

  #ready(shard: number): boolean {
    const session = this.#shards.get(shard);
    return session?.socket !== undefined && session.sessionId !== undefined;
  }

  /** How many shards have a live, identified session. */
  get readyShards(): number {
    return [...this.#shards.keys()].filter((shard) => this.#ready(shard)).length;
  }

  #session(shard: number): Session {
    let session = this.#shards.get(shard);
    if (session === undefined) {
      session = { socket: undefined, sessionId: undefined, seq: 0, log: [] };
      this.#shards.set(shard, session);
    }
    return session;
  }

  #send(socket: WebSocket, frame: Record<string, unknown>): void {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
  }

  #accept(socket: WebSocket): void {
    this.#send(socket, { op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null });
    socket.on('message', (raw) => {
      let payload: { op: number; d: unknown };
      try {
        payload = JSON.parse((raw as Buffer).toString()) as { op: number; d: unknown };
      } catch {
        this.options.violation('gateway: a frame that is not JSON');
        return;
      }
      this.#onFrame(socket, payload);
    });
    socket.on('close', () => {
      for (const session of this.#shards.values()) if (session.socket === socket) session.socket = undefined;
      this.#events.emit('closed');
    });
  }

  #onFrame(socket: WebSocket, payload: { op: number; d: unknown }): void {
    switch (payload.op) {
      case 1:
        this.heartbeats++;
        this.#send(socket, { op: 11, d: null, s: null, t: null });
        return;
      case 2: {
        const d = payload.d as { token?: string; intents?: number; shard?: [number, number] };
        if (d.token !== this.options.token && d.token !== `Bot ${this.options.token}`) {
          socket.close(4004, 'Authentication failed.');
          return;
        }
        const [shard, count] = d.shard ?? [0, 1];
        this.#shardCount = count;
        this.identifies++;
        const session = this.#session(shard);
        session.socket = socket;
        session.sessionId = `session-${this.identifies}`;
        session.seq = 0;
        session.log = [];
        const ready = this.options.ready();
        const onShard = (guild: Record<string, unknown>) => shardOfGuild(String(guild.id), count) === shard;
        this.#dispatchTo(shard, 'READY', {
          ...ready,
          guilds: ((ready.guilds ?? []) as Array<Record<string, unknown>>).filter(onShard),
          shard: [shard, count],
          session_id: session.sessionId,
          resume_gateway_url: this.options.url(),
        });
        for (const guild of this.options.guildCreates().filter(onShard)) this.#dispatchTo(shard, 'GUILD_CREATE', guild);
        this.#events.emit('identified');
        return;
      }
      case 6: {
        const d = payload.d as { session_id?: string; seq?: number };
        const entry = [...this.#shards.entries()].find(([, s]) => s.sessionId !== undefined && s.sessionId === d.session_id);
        if (entry === undefined) {
          this.#send(socket, { op: 9, d: false, s: null, t: null });
          return;
        }
        const [shard, session] = entry;
        this.resumes++;
        session.socket = socket;
        for (const event of session.log) {
          if (event.s > (d.seq ?? 0)) this.#send(socket, { op: 0, ...event });
        }
        this.#dispatchTo(shard, 'RESUMED', {});
        this.#events.emit('resumed');
        return;
      }
      default:
        // Presence updates, member requests, voice: not needed here.
        return;
    }
  }

  /** Sends an event now, or on the next RESUME when disconnected, on its guild's shard. */
  dispatch(t: string, d: unknown): void {
    const guildId = (d as { guild_id?: unknown } | null)?.guild_id;
    this.#dispatchTo(typeof guildId === 'string' && this.#shardCount > 1 ? shardOfGuild(guildId, this.#shardCount) : 0, t, d);
  }

  #dispatchTo(shard: number, t: string, d: unknown): void {
    const session = this.#session(shard);
    const event = { s: ++session.seq, t, d };
    session.log.push(event);
    if (session.log.length > 5000) session.log.shift();
    if (session.socket) this.#send(session.socket, { op: 0, ...event });
  }

  /**
   * Forces a reconnect of a shard (0 by default): `op7` asks the client to
   * reconnect (op 7 RECONNECT); `drop` kills the socket without a close frame.
   * Resolves when the client has resumed.
   */
  async reconnect(mode: 'op7' | 'drop' = 'op7', whileDown?: () => void, shard = 0): Promise<void> {
    const session = this.#shards.get(shard);
    const socket = session?.socket;
    if (!session || !socket) throw new Error('the gateway has no client connected');
    const resumed = once(this.#events, 'resumed');
    session.socket = undefined;
    if (mode === 'op7') this.#send(socket, { op: 7, d: null, s: null, t: null });
    else socket.terminate();
    whileDown?.();
    await resumed;
  }

  async waitIdentified(): Promise<void> {
    if (this.ready) return;
    await once(this.#events, 'identified');
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
