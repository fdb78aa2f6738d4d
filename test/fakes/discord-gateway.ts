/**
 * The fake Discord Gateway: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE,
 * RESUME (replaying what was missed), dispatches, and forced reconnects.
 * Text frames only (no compression), JSON encoding.
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

export class FakeGateway {
  readonly #wss: WebSocketServer;
  readonly #events = new EventEmitter();
  #socket: WebSocket | undefined;
  #sessionId: string | undefined;
  #seq = 0;
  #log: Dispatched[] = [];
  identifies = 0;
  resumes = 0;
  heartbeats = 0;

  constructor(private readonly options: GatewayOptions) {
    this.#wss = new WebSocketServer({ server: options.server });
    this.#wss.on('connection', (socket) => this.#accept(socket));
  }

  /** Connected and identified (or resumed). */
  get ready(): boolean {
    return this.#socket !== undefined && this.#sessionId !== undefined;
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
      if (this.#socket === socket) this.#socket = undefined;
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
        const d = payload.d as { token?: string; intents?: number };
        if (d.token !== this.options.token && d.token !== `Bot ${this.options.token}`) {
          socket.close(4004, 'Authentication failed.');
          return;
        }
        this.identifies++;
        this.#socket = socket;
        this.#sessionId = `session-${this.identifies}`;
        this.#seq = 0;
        this.#log = [];
        this.dispatch('READY', {
          ...this.options.ready(),
          session_id: this.#sessionId,
          resume_gateway_url: this.options.url(),
        });
        for (const guild of this.options.guildCreates()) this.dispatch('GUILD_CREATE', guild);
        this.#events.emit('identified');
        return;
      }
      case 6: {
        const d = payload.d as { session_id?: string; seq?: number };
        if (!this.#sessionId || d.session_id !== this.#sessionId) {
          this.#send(socket, { op: 9, d: false, s: null, t: null });
          return;
        }
        this.resumes++;
        this.#socket = socket;
        for (const event of this.#log) {
          if (event.s > (d.seq ?? 0)) this.#send(socket, { op: 0, ...event });
        }
        this.dispatch('RESUMED', {});
        this.#events.emit('resumed');
        return;
      }
      default:
        // Presence updates, member requests, voice: not needed here.
        return;
    }
  }

  /** Sends an event now, or on the next RESUME when disconnected. */
  dispatch(t: string, d: unknown): void {
    const event = { s: ++this.#seq, t, d };
    this.#log.push(event);
    if (this.#log.length > 5000) this.#log.shift();
    if (this.#socket) this.#send(this.#socket, { op: 0, ...event });
  }

  /**
   * Forces a reconnect: `op7` asks the client to reconnect (op 7 RECONNECT);
   * `drop` kills the socket without a close frame. Resolves when the client has
   * resumed.
   */
  async reconnect(mode: 'op7' | 'drop' = 'op7', whileDown?: () => void): Promise<void> {
    const socket = this.#socket;
    if (!socket) throw new Error('the gateway has no client connected');
    const resumed = once(this.#events, 'resumed');
    this.#socket = undefined;
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
