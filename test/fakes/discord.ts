/**
 * A fake Discord on 127.0.0.1 for driving the real discord.js: REST under
 * /api/v10 and a Gateway WebSocket on the same port. It enforces Discord's
 * rules (2000 characters, about 5 sends/edits per 5 s per channel, the global
 * 50 requests a second per bot token — per address without one — from which
 * interaction endpoints are exempt, 15-minute interaction tokens on a clock
 * the test controls, the 3 s acknowledgement, allowed_mentions on every bot
 * message) and records each breach in `violations`; tests assert there are
 * none unless they provoke one.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeGateway } from './discord-gateway.ts';
import {
  ALL_PERMISSIONS,
  channelJson,
  EVERYONE_PERMISSIONS,
  messageJson,
  Permission,
  Snowflakes,
  userJson,
  type FakeChannel,
  type FakeInteraction,
  type FakeAttachment,
  type FakeMessage,
  type FakeRole,
  type FakeUpload,
  type FakeUser,
  type RegisteredCommand,
  type RegisteredOption,
} from './discord-world.ts';

export { Permission, type FakeAttachment, type FakeChannel, type FakeInteraction, type FakeMessage, type FakeUpload, type FakeUser, type RegisteredCommand } from './discord-world.ts';

export interface FakeDiscordClock {
  now(): number;
}

export interface FakeDiscordOptions {
  /** Virtual time for rate-limit windows, token lifetimes and timestamps (default: Date.now). */
  clock?: FakeDiscordClock;
  token?: string;
  /** Sends/edits per window per channel (default 5 per 5000 ms). */
  rateLimit?: { count: number; windowMs: number };
  /** Real ms an interaction has to be acknowledged (default 3000). */
  ackDeadlineMs?: number;
  /**
   * Requests a second per bot token (per address without one), in real time
   * (default 50, Discord's global limit); interaction endpoints do not count.
   */
  globalPerSecond?: number;
  /** Virtual ms an interaction token stays valid (default 15 minutes). */
  tokenLifetimeMs?: number;
}

export interface RecordedDiscordRequest {
  method: string;
  /** Path below /api/v10, URL-decoded, without the query. */
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** Files of a multipart request (the body is then its payload_json). */
  files?: FakeUpload[];
  status: number;
  /** Virtual ms when it arrived. */
  at: number;
}

/** An injected failure for the next matching request(s); not counted as a violation. */
export interface FailureRule {
  method?: string;
  path: RegExp;
  status: number;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** How many requests to fail (default 1). */
  times?: number;
  /**
   * The request takes effect first and only its answer is replaced (a
   * response lost on the way back: the client cannot tell whether it landed).
   */
  applied?: boolean;
}

export type OptionValues = Record<string, string | number | boolean>;

export interface CommandInput {
  user: FakeUser;
  channelId: string;
  name: string;
  subcommand?: string;
  options?: OptionValues;
  /** Attachment options (type 11): the option's value is the id, the file goes in data.resolved.attachments. */
  files?: Record<string, FakeAttachment>;
}

interface HttpError {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const EPHEMERAL = 1 << 6;
const LOADING = 1 << 7;
const MAX_CONTENT = 2000;
/** Files per message, and bytes per file for a bot in an unboosted server (10 MiB). */
const MAX_FILES = 10;
const MAX_FILE_BYTES = 10 * 1024 * 1024;

function httpError(status: number, code: number, message: string, extra: Record<string, unknown> = {}): HttpError {
  return { status, body: { code, message, ...extra } };
}

class RestError extends Error {
  constructor(readonly response: HttpError) {
    super(String(response.body.message));
  }
}

export class FakeDiscord {
  readonly token: string;
  readonly clock: FakeDiscordClock;
  readonly snowflakes: Snowflakes;
  readonly violations: string[] = [];
  readonly requests: RecordedDiscordRequest[] = [];
  readonly bot: FakeUser;
  readonly applicationId: string;
  readonly guildId: string;
  /** Guilds beyond the first (addGuild): the same roles and members, their own channels. */
  readonly #moreGuilds: string[] = [];
  readonly users: { owner: FakeUser; alice: FakeUser; bob: FakeUser; carol: FakeUser };
  readonly channels: { general: FakeChannel; random: FakeChannel; muted: FakeChannel };
  readonly roles: FakeRole[];
  readonly members = new Map<string, string[]>();
  /** How many times the commands were (bulk) registered, per target. */
  readonly commandPuts: Array<{ guildId?: string; body: RegisteredCommand[] }> = [];

  readonly #channels = new Map<string, FakeChannel>();
  readonly #extraUsers = new Map<string, FakeUser>();
  readonly #messages = new Map<string, FakeMessage>();
  readonly #interactions = new Map<string, FakeInteraction>();
  readonly #interactionsByToken = new Map<string, FakeInteraction>();
  readonly #commands = new Map<string, RegisteredCommand[]>();
  readonly #sends = new Map<string, number[]>();
  readonly #rules: FailureRule[] = [];
  /** The files of the request being routed (multipart), taken by the message it creates or edits. */
  #pendingFiles: FakeUpload[] | undefined;
  readonly #listeners: Array<(request: RecordedDiscordRequest) => void> = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #rate: { count: number; windowMs: number };
  readonly #ackDeadlineMs: number;
  readonly #tokenLifetimeMs: number;
  readonly #globalPerSecond: number;
  /** The global limit's token buckets, per bot token or address: tokens left and when counted. */
  readonly #global = new Map<string, { tokens: number; at: number }>();
  readonly #server = createServer((req, res) => void this.#handle(req, res));
  readonly gateway: FakeGateway;
  #port = 0;

  constructor(options: FakeDiscordOptions = {}) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.token = options.token ?? 'fake-bot-token.abcdef.0123456789';
    this.#rate = options.rateLimit ?? { count: 5, windowMs: 5000 };
    this.#ackDeadlineMs = options.ackDeadlineMs ?? 3000;
    this.#tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60_000;
    this.#globalPerSecond = options.globalPerSecond ?? 50;
    this.snowflakes = new Snowflakes(() => this.clock.now());
    const id = () => this.snowflakes.next();
    this.applicationId = id();
    this.bot = { id: this.applicationId, username: 'Switchboard', global_name: null, bot: true };
    this.guildId = id();
    const user = (name: string): FakeUser => ({ id: id(), username: name, global_name: name[0]!.toUpperCase() + name.slice(1) });
    this.users = { owner: user('owner'), alice: user('alice'), bob: user('bob'), carol: user('carol') };
    const managerRole: FakeRole = { id: id(), name: 'Manager', permissions: EVERYONE_PERMISSIONS | Permission.ManageGuild };
    const botRole: FakeRole = { id: id(), name: 'Switchboard', permissions: ALL_PERMISSIONS & ~Permission.Administrator };
    this.roles = [{ id: this.guildId, name: '@everyone', permissions: EVERYONE_PERMISSIONS }, managerRole, botRole];
    this.members.set(this.users.owner.id, []);
    this.members.set(this.users.alice.id, []);
    this.members.set(this.users.bob.id, [managerRole.id]);
    this.members.set(this.users.carol.id, []);
    this.members.set(this.bot.id, [botRole.id]);
    const text = (name: string, botMuted = false): FakeChannel => ({ id: id(), type: 0, name, guild_id: this.guildId, botMuted });
    this.channels = { general: text('general'), random: text('random'), muted: text('muted', true) };
    for (const channel of Object.values(this.channels)) this.#channels.set(channel.id, channel);
    this.gateway = new FakeGateway({
      server: this.#server,
      token: this.token,
      url: () => `ws://127.0.0.1:${this.#port}`,
      violation: (text) => this.violation(text),
      ready: () => ({
        v: 10,
        user: { ...userJson(this.bot), verified: true, mfa_enabled: false, flags: 0 },
        guilds: this.guildIds.map((id) => ({ id, unavailable: true })),
        shard: [0, 1],
        application: { id: this.applicationId, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        user_settings: {},
      }),
      guildCreates: () => this.guildIds.map((id) => this.#guildJson(id)),
    });
  }

  /** REST base for discord.js's `rest.api` (it appends /v10). */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.#port}/api`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    await this.gateway.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  violation(text: string): void {
    this.violations.push(text);
  }

  /** Called for every REST request after it was answered. */
  onRequest(listener: (request: RecordedDiscordRequest) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  failNext(rule: FailureRule): void {
    this.#rules.push({ times: 1, ...rule });
  }

  /** 429 the next bot send/edit matching `path`, with retry-after in seconds. */
  rateLimitNext(path: RegExp, retryAfterSeconds: number, method = 'PATCH'): void {
    this.failNext({
      method,
      path,
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: retryAfterSeconds, global: false },
      headers: { 'retry-after': String(retryAfterSeconds), 'x-ratelimit-scope': 'user' },
    });
  }

  // ---- the world -------------------------------------------------------

  /** Another guild member (benchmarks spread load over many); call before the bot connects to have it in GUILD_CREATE. */
  addUser(name: string): FakeUser {
    const user: FakeUser = { id: this.snowflakes.next(), username: name, global_name: name };
    this.#extraUsers.set(user.id, user);
    this.members.set(user.id, []);
    return user;
  }

  /** A role (no permissions of its own) given to these members; call before the bot connects to have it in GUILD_CREATE. */
  addRole(name: string, members: readonly FakeUser[] = []): FakeRole {
    const role: FakeRole = { id: this.snowflakes.next(), name, permissions: 0n };
    this.roles.push(role);
    for (const member of members) this.members.set(member.id, [...(this.members.get(member.id) ?? []), role.id]);
    return role;
  }

  /** Another text channel in the guild; call before the bot connects (discord.js drops events for uncached channels). */
  /** Every guild the bot is in: the first, then those addGuild made. */
  get guildIds(): string[] {
    return [this.guildId, ...this.#moreGuilds];
  }

  /** Another guild (with the first one's roles and members), e.g. to spread events over shards. */
  addGuild(): string {
    const id = this.snowflakes.next();
    this.#moreGuilds.push(id);
    return id;
  }

  addChannel(name: string, guildId = this.guildId): FakeChannel {
    const channel: FakeChannel = { id: this.snowflakes.next(), type: 0, name, guild_id: guildId };
    this.#channels.set(channel.id, channel);
    return channel;
  }

  channel(id: string): FakeChannel | undefined {
    return this.#channels.get(id);
  }

  message(id: string): FakeMessage | undefined {
    return this.#messages.get(id);
  }

  interaction(id: string): FakeInteraction | undefined {
    return this.#interactions.get(id);
  }

  /** A channel's messages, oldest first (ephemeral ones only when asked). */
  messages(channelId: string, options: { includeEphemeral?: boolean } = {}): FakeMessage[] {
    return [...this.#messages.values()]
      .filter((m) => m.channel_id === channelId && (options.includeEphemeral || m.ephemeralFor === undefined))
      .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  botMessages(channelId: string, options: { includeEphemeral?: boolean } = {}): FakeMessage[] {
    return this.messages(channelId, options).filter((m) => m.author.id === this.bot.id);
  }

  /** Every ephemeral message shown to a user. */
  ephemeralFor(userId: string): FakeMessage[] {
    return [...this.#messages.values()].filter((m) => m.ephemeralFor === userId);
  }

  /** Commands registered for the guild (or globally without a guild id). */
  commands(guildId?: string): RegisteredCommand[] {
    return this.#commands.get(guildId ?? 'global') ?? [];
  }

  dmChannel(user: FakeUser): FakeChannel {
    const existing = [...this.#channels.values()].find((c) => c.type === 1 && c.recipients?.[0]?.id === user.id);
    if (existing) return existing;
    const channel: FakeChannel = { id: this.snowflakes.next(), type: 1, recipients: [user] };
    this.#channels.set(channel.id, channel);
    return channel;
  }

  /** A group DM of these users that the bot is not in (the app is user-installed by one of them). */
  groupDm(users: FakeUser[], name = 'friends'): FakeChannel {
    const channel: FakeChannel = { id: this.snowflakes.next(), type: 3, name, recipients: users, owner_id: users[0]?.id, botAbsent: true };
    this.#channels.set(channel.id, channel);
    return channel;
  }

  /** A thread a user opened in a channel (optionally from a message; then it has that message's id). */
  createThread(parentId: string, name: string, owner: FakeUser, starterMessageId?: string): FakeChannel {
    const thread: FakeChannel = {
      id: starterMessageId ?? this.snowflakes.next(),
      type: 11,
      name,
      guild_id: this.#channels.get(parentId)?.guild_id ?? this.guildId,
      parent_id: parentId,
      owner_id: owner.id,
    };
    this.#channels.set(thread.id, thread);
    this.gateway.dispatch('THREAD_CREATE', { ...channelJson(thread), newly_created: true });
    return thread;
  }

  /** A user posts a message (mentions in the text are parsed; `replyTo` makes it a reply). */
  /**
   * Puts a file on the fake CDN (served at its URL to anyone, as Discord's
   * signed URLs are); attach it with sendMessage's `attachments` or a command's `files`.
   */
  hostFile(input: { filename: string; data: Buffer; contentType?: string }): FakeAttachment {
    const id = this.snowflakes.next();
    const url = `${this.apiUrl.replace(/\/api$/, '')}/cdn/attachments/${id}/${encodeURIComponent(input.filename)}`;
    this.#files.set(id, { data: input.data, contentType: input.contentType });
    return { id, filename: input.filename, size: input.data.length, url, proxy_url: url, ...(input.contentType ? { content_type: input.contentType } : {}) };
  }

  /** How many times the fake CDN served a file (the bot downloading it). */
  fileDownloads = 0;
  readonly #files = new Map<string, { data: Buffer; contentType?: string }>();

  sendMessage(input: { user: FakeUser; channelId: string; content: string; replyTo?: string; attachments?: FakeAttachment[] }): FakeMessage {
    const channel = this.#channels.get(input.channelId);
    if (!channel) throw new Error(`no channel ${input.channelId}`);
    const reference = input.replyTo ? this.#messages.get(input.replyTo) : undefined;
    if (input.replyTo && !reference) throw new Error(`no message ${input.replyTo}`);
    const mentions = [...input.content.matchAll(/<@!?(\d+)>/g)]
      .map((m) => this.#userById(m[1]!))
      .filter((u): u is FakeUser => u !== undefined);
    if (reference && !mentions.some((u) => u.id === reference.author.id)) mentions.push(reference.author);
    const message = this.#store({
      channel,
      author: input.user,
      content: input.content,
      type: reference ? 19 : 0,
      mentions,
      mention_everyone: /@(everyone|here)\b/.test(input.content),
      message_reference: reference
        ? { message_id: reference.id, channel_id: reference.channel_id, guild_id: reference.guild_id }
        : undefined,
    });
    if (input.attachments) message.attachments = input.attachments;
    this.#dispatchMessage(message);
    return message;
  }

  /** Deletes a message as a moderator would (MESSAGE_DELETE follows). */
  deleteMessage(id: string): void {
    const message = this.#messages.get(id);
    if (!message) throw new Error(`no message ${id}`);
    this.#messages.delete(id);
    this.gateway.dispatch('MESSAGE_DELETE', { id, channel_id: message.channel_id, guild_id: message.guild_id });
  }

  /** Expires an interaction's token now (as if 15 minutes had passed). */
  expireToken(interactionId: string): void {
    const interaction = this.#interactions.get(interactionId);
    if (interaction) interaction.createdAt = this.clock.now() - this.#tokenLifetimeMs - 1;
  }

  // ---- simulated users ---------------------------------------------------

  /** A user runs a slash command; resolves once the bot acknowledged it. */
  async runCommand(input: CommandInput): Promise<FakeInteraction> {
    const interaction = this.startCommand(input);
    await interaction.ack;
    return interaction;
  }

  /** A user runs a slash command; returns the interaction at once (its `ack` resolves when acknowledged). */
  startCommand(input: CommandInput): FakeInteraction {
    const interaction = this.#newInteraction(2, input.user, input.channelId, input.name);
    const data = this.#commandData(input, undefined);
    this.gateway.dispatch('INTERACTION_CREATE', this.#interactionJson(interaction, data));
    return interaction;
  }

  /** A user types into an autocomplete option; resolves with the bot's choices. */
  async autocomplete(input: CommandInput & { focused: string }): Promise<Array<{ name: string; value: string | number }>> {
    const interaction = this.#newInteraction(4, input.user, input.channelId, input.name);
    const data = this.#commandData(input, input.focused);
    this.gateway.dispatch('INTERACTION_CREATE', this.#interactionJson(interaction, data));
    await interaction.ack;
    return interaction.choices ?? [];
  }

  /** A user presses a button (`stale`: one that was removed meanwhile); resolves once the bot acknowledged it. */
  async clickButton(input: { user: FakeUser; messageId: string; customId: string; stale?: boolean }): Promise<FakeInteraction> {
    const message = this.#messages.get(input.messageId);
    if (!message) throw new Error(`no message ${input.messageId}`);
    const ids = buttonIds(message);
    // `stale`: a client that has not seen the edit yet still shows the old button.
    if (!input.stale && !ids.includes(input.customId)) throw new Error(`message ${input.messageId} has no button ${input.customId} (has ${ids.join(', ') || 'none'})`);
    const interaction = this.#newInteraction(3, input.user, message.channel_id);
    interaction.messageId = message.id;
    const data = { custom_id: input.customId, component_type: 2 };
    this.gateway.dispatch('INTERACTION_CREATE', {
      ...this.#interactionJson(interaction, data),
      message: messageJson(message, (id) => this.#messages.get(id)),
    });
    await interaction.ack;
    return interaction;
  }

  /** The interaction a webhook path (`/webhooks/{app}/{token}/...`) belongs to. */
  interactionOfPath(path: string): FakeInteraction | undefined {
    const token = /^\/webhooks\/\d+\/([^/]+)/.exec(path)?.[1];
    return token === undefined ? undefined : this.#interactionsByToken.get(token);
  }

  /** Messages an interaction produced (its original response and follow-ups), oldest first. */
  interactionMessages(interaction: FakeInteraction): FakeMessage[] {
    const ids = [interaction.originalId, ...interaction.followUpIds].filter((id): id is string => id !== undefined);
    return ids.map((id) => this.#messages.get(id)).filter((m): m is FakeMessage => m !== undefined);
  }

  // ---- internals: world ---------------------------------------------------

  #userById(id: string): FakeUser | undefined {
    if (id === this.bot.id) return this.bot;
    return Object.values(this.users).find((u) => u.id === id) ?? this.#extraUsers.get(id);
  }

  #permissionsOf(userId: string): bigint {
    if (userId === this.users.owner.id) return ALL_PERMISSIONS;
    const roles = this.members.get(userId) ?? [];
    let bits = this.roles[0]!.permissions;
    for (const role of this.roles) if (roles.includes(role.id)) bits |= role.permissions;
    return bits & Permission.Administrator ? ALL_PERMISSIONS : bits;
  }

  /** The guild's roles; @everyone's id is its guild's (every guild shares the first one's other roles). */
  #rolesJson(guildId = this.guildId): Array<Record<string, unknown>> {
    return this.roles.map((r, position) => ({
      id: position === 0 ? guildId : r.id,
      name: r.name,
      permissions: r.permissions.toString(),
      position,
      color: 0,
      hoist: false,
      managed: false,
      mentionable: false,
      flags: 0,
      icon: null,
      unicode_emoji: null,
    }));
  }

  #memberJson(userId: string): Record<string, unknown> {
    const user = this.#userById(userId)!;
    return {
      user: userJson(user),
      roles: this.members.get(userId) ?? [],
      nick: null,
      avatar: null,
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
    };
  }

  #guildJson(guildId = this.guildId): Record<string, unknown> {
    const channels = [...this.#channels.values()].filter((c) => c.guild_id === guildId);
    return {
      id: guildId,
      name: 'Fake Guild',
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: this.users.owner.id,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      vanity_url_code: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      application_id: null,
      max_members: 500_000,
      features: [],
      emojis: [],
      stickers: [],
      roles: this.#rolesJson(guildId),
      channels: channels.filter((c) => c.type !== 11).map(channelJson),
      threads: channels.filter((c) => c.type === 11).map(channelJson),
      members: [...this.members.keys()].map((id) => this.#memberJson(id)),
      member_count: this.members.size,
      joined_at: new Date(0).toISOString(),
      large: false,
      unavailable: false,
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  #store(input: {
    channel: FakeChannel;
    author: FakeUser;
    content: string;
    type: number;
    flags?: number;
    components?: unknown[];
    mentions?: FakeUser[];
    mention_everyone?: boolean;
    message_reference?: FakeMessage['message_reference'];
    interaction?: FakeInteraction;
    ephemeralFor?: string;
    allowedMentions?: unknown;
  }): FakeMessage {
    const message: FakeMessage = {
      id: this.snowflakes.next(),
      channel_id: input.channel.id,
      guild_id: input.channel.guild_id,
      author: input.author,
      content: input.content,
      createdAt: this.clock.now(),
      type: input.type,
      flags: input.flags ?? 0,
      components: input.components ?? [],
      mention_everyone: input.mention_everyone ?? false,
      mentions: input.mentions ?? [],
      message_reference: input.message_reference,
      ephemeralFor: input.ephemeralFor,
      allowedMentions: input.allowedMentions,
      history: [input.content],
    };
    if (this.#pendingFiles) message.uploads = this.#takeFiles();
    if (input.interaction) {
      message.webhook_id = this.applicationId;
      message.application_id = this.applicationId;
      message.interaction = { id: input.interaction.id, user: input.interaction.user, name: input.interaction.name ?? 'button' };
    }
    this.#messages.set(message.id, message);
    return message;
  }

  #dispatchMessage(message: FakeMessage): void {
    if (message.ephemeralFor !== undefined || this.#channels.get(message.channel_id)?.botAbsent) return;
    const json = messageJson(message, (id) => this.#messages.get(id));
    json.channel_type = this.#channels.get(message.channel_id)?.type;
    if (message.guild_id) json.member = { ...this.#memberJson(message.author.id), user: undefined };
    this.gateway.dispatch('MESSAGE_CREATE', json);
  }

  #newInteraction(type: 2 | 3 | 4, user: FakeUser, channelId: string, name?: string): FakeInteraction {
    const channel = this.#channels.get(channelId);
    if (!channel) throw new Error(`no channel ${channelId}`);
    let resolveAck!: (type: number) => void;
    const ack = new Promise<number>((resolve) => (resolveAck = resolve));
    const interaction: FakeInteraction = {
      id: this.snowflakes.next(),
      token: `aW50ZXJhY3Rpb24.${randomBytes(24).toString('base64url')}`,
      type,
      user,
      channelId,
      guildId: channel.guild_id,
      createdAt: this.clock.now(),
      createdReal: Date.now(),
      ephemeral: false,
      followUpIds: [],
      name,
      ack,
      resolveAck,
    };
    this.#interactions.set(interaction.id, interaction);
    this.#interactionsByToken.set(interaction.token, interaction);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (interaction.ackType === undefined) {
        this.violation(`interaction ${interaction.id} (${name ?? 'button'}) was not acknowledged within ${this.#ackDeadlineMs} ms`);
      }
    }, this.#ackDeadlineMs);
    timer.unref();
    this.#timers.add(timer);
    return interaction;
  }

  #interactionJson(interaction: FakeInteraction, data: Record<string, unknown>): Record<string, unknown> {
    const channel = this.#channels.get(interaction.channelId)!;
    const json: Record<string, unknown> = {
      id: interaction.id,
      application_id: this.applicationId,
      type: interaction.type,
      token: interaction.token,
      version: 1,
      data,
      channel_id: channel.id,
      channel: channelJson(channel),
      app_permissions: channel.botMuted ? (ALL_PERMISSIONS & ~Permission.SendMessages).toString() : ALL_PERMISSIONS.toString(),
      locale: 'en-US',
      entitlements: [],
      attachment_size_limit: 10_485_760,
    };
    if (channel.guild_id) {
      json.guild_id = channel.guild_id;
      json.guild_locale = 'en-US';
      json.guild = { id: channel.guild_id, locale: 'en-US', features: [] };
      json.member = { ...this.#memberJson(interaction.user.id), permissions: this.#permissionsOf(interaction.user.id).toString() };
      json.authorizing_integration_owners = { '0': channel.guild_id };
      json.context = 0;
    } else if (channel.type === 3) {
      // A user-installed app in a private channel: only the user's install authorises it.
      json.user = userJson(interaction.user);
      json.authorizing_integration_owners = { '1': interaction.user.id };
      json.context = 2;
    } else {
      json.user = userJson(interaction.user);
      json.authorizing_integration_owners = { '0': interaction.user.id };
      json.context = 1;
    }
    return json;
  }

  #commandData(input: CommandInput, focused: string | undefined): Record<string, unknown> {
    const channel = this.#channels.get(input.channelId);
    const scope = channel?.guild_id ? [...this.commands(channel.guild_id), ...this.commands()] : this.commands();
    const command = scope.find((c) => c.name === input.name);
    if (!command) throw new Error(`/${input.name} is not registered`);
    let declared: RegisteredOption[] = command.options ?? [];
    let wrap = (options: unknown[]) => options;
    if (input.subcommand) {
      const sub = declared.find((o) => o.type === 1 && o.name === input.subcommand);
      if (!sub) throw new Error(`/${input.name} has no subcommand ${input.subcommand}`);
      declared = sub.options ?? [];
      wrap = (options) => [{ type: 1, name: sub.name, options }];
    }
    const options: Array<Record<string, unknown>> = [];
    for (const [name, value] of Object.entries(input.options ?? {})) {
      const option = declared.find((o) => o.name === name);
      if (!option) throw new Error(`/${input.name} has no option ${name}`);
      const entry: Record<string, unknown> = { type: option.type, name, value };
      if (name === focused) entry.focused = true;
      options.push(entry);
    }
    if (focused === undefined) {
      for (const option of declared) {
        if (option.required && !(option.name in (input.options ?? {}))) throw new Error(`/${input.name}: ${option.name} is required`);
      }
    }
    for (const [name, file] of Object.entries(input.files ?? {})) {
      const option = declared.find((o) => o.name === name && o.type === 11);
      if (!option) throw new Error(`/${input.name} has no attachment option ${name}`);
      options.push({ type: 11, name, value: file.id });
    }
    const data: Record<string, unknown> = { id: command.id, name: command.name, type: 1, options: wrap(options) };
    if (input.files) data.resolved = { attachments: Object.fromEntries(Object.values(input.files).map((f) => [f.id, { ...f, ephemeral: false }])) };
    if (channel?.guild_id) data.guild_id = channel.guild_id;
    return data;
  }

  // ---- internals: REST --------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = /^\/cdn\/attachments\/(\d+)\//.exec(url.pathname);
    if (file && req.method === 'GET') {
      const hosted = this.#files.get(file[1]!);
      this.fileDownloads++;
      res.writeHead(hosted ? 200 : 404, { 'content-type': hosted?.contentType ?? 'text/plain' });
      res.end(hosted ? hosted.data : 'not found');
      return;
    }
    const path = decodeURIComponent(url.pathname).replace(/^\/api\/v10/, '');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString();
    let body: unknown;
    let files: FakeUpload[] | undefined;
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      ({ body, files } = await parseMultipart(Buffer.concat(chunks), contentType));
    } else {
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const method = req.method ?? 'GET';
    const record: RecordedDiscordRequest = { method, path, query: url.searchParams, body, ...(files ? { files } : {}), status: 0, at: this.clock.now() };
    this.requests.push(record);
    let status = 200;
    let payload: unknown;
    let headers: Record<string, string> = {};
    try {
      this.#spendGlobal(method, path, req.headers.authorization);
      const rule = this.#rules.find((r) => (r.method === undefined || r.method === method) && r.path.test(path));
      if (rule) {
        rule.times = (rule.times ?? 1) - 1;
        if (rule.times <= 0) this.#rules.splice(this.#rules.indexOf(rule), 1);
        if (rule.applied) {
          try {
            this.#pendingFiles = files;
            this.#route(method, path, url.searchParams, body, req.headers.authorization);
          } catch {
            // The injected answer replaces whatever Discord said.
          }
        }
        throw new RestError({ status: rule.status, body: rule.body ?? { code: 0, message: 'injected failure' }, headers: rule.headers });
      }
      this.#pendingFiles = files;
      if (files) this.#checkFiles(`${method} ${path}`, files, body);
      const result = this.#route(method, path, url.searchParams, body, req.headers.authorization);
      if (result === undefined) status = 204;
      else payload = result;
    } catch (error) {
      if (!(error instanceof RestError)) {
        this.violation(`fake crashed on ${method} ${path}: ${String(error)}`);
        status = 500;
        payload = { code: 0, message: String(error) };
      } else {
        status = error.response.status;
        payload = error.response.body;
        headers = error.response.headers ?? {};
      }
    }
    this.#pendingFiles = undefined;
    record.status = status;
    res.writeHead(status, status === 204 ? headers : { 'content-type': 'application/json', ...headers });
    res.end(status === 204 ? undefined : JSON.stringify(payload));
    for (const listener of [...this.#listeners]) listener(record);
  }

  #takeFiles(): FakeUpload[] {
    const files = this.#pendingFiles ?? [];
    this.#pendingFiles = undefined;
    return files;
  }

  /** Discord's upload rules: at most 10 files of at most 10 MiB, each named in payload_json's `attachments`. */
  #checkFiles(where: string, files: FakeUpload[], body: unknown): void {
    if (files.length > MAX_FILES) {
      this.violation(`${where}: ${files.length} files (limit ${MAX_FILES})`);
      throw new RestError(httpError(400, 50035, 'Invalid Form Body', { errors: { files: 'Must be 10 or fewer in length.' } }));
    }
    const big = files.find((f) => f.data.length > MAX_FILE_BYTES);
    if (big) {
      this.violation(`${where}: ${big.filename} is ${big.data.length} bytes (limit ${MAX_FILE_BYTES})`);
      throw new RestError(httpError(413, 40005, 'Request entity too large'));
    }
    const listed = ((body as { attachments?: Array<{ id?: unknown }> } | undefined)?.attachments ?? []).map((a) => String(a.id));
    for (const file of files) {
      const index = /^files\[(\d+)\]$/.exec(file.field)?.[1];
      if (index === undefined || !listed.includes(index)) this.violation(`${where}: ${file.field} is not listed in payload_json.attachments`);
    }
  }

  #requireBot(authorization: string | undefined): void {
    if (authorization !== `Bot ${this.token}`) throw new RestError(httpError(401, 0, '401: Unauthorized'));
  }

  #route(method: string, path: string, query: URLSearchParams, body: unknown, auth: string | undefined): unknown {
    let m: RegExpExecArray | null;
    const b = (body ?? {}) as Record<string, unknown>;

    if ((m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path)) && method === 'POST') {
      return this.#callback(m[1]!, m[2]!, b, query);
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/([^/]+))?$/.exec(path))) {
      return this.#webhook(method, m[1]!, m[2]!, m[3], b);
    }

    this.#requireBot(auth);
    if (path === '/gateway/bot' || path === '/gateway') {
      return {
        url: `ws://127.0.0.1:${this.#port}`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      };
    }
    if (path === '/users/@me') return { ...userJson(this.bot), verified: true, mfa_enabled: false, flags: 0 };
    if (path === '/applications/@me' || path === '/oauth2/applications/@me') {
      return { id: this.applicationId, name: 'Switchboard', description: '', bot_public: true, flags: 0, bot: userJson(this.bot) };
    }
    if ((m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path))) {
      return this.#commandsRoute(method, m[1]!, m[2], body);
    }
    if (path === '/users/@me/channels' && method === 'POST') {
      const user = this.#userById(String(b.recipient_id));
      if (!user) throw new RestError(httpError(400, 50035, 'Invalid Form Body'));
      return channelJson(this.dmChannel(user));
    }
    if ((m = /^\/guilds\/(\d+)\/roles$/.exec(path)) && method === 'GET') {
      if (!this.guildIds.includes(m[1]!)) throw new RestError(httpError(404, 10004, 'Unknown Guild'));
      return this.#rolesJson(m[1]);
    }
    if ((m = /^\/guilds\/(\d+)\/members\/(\d+)$/.exec(path)) && method === 'GET') {
      if (!this.guildIds.includes(m[1]!) || !this.members.has(m[2]!)) throw new RestError(httpError(404, 10007, 'Unknown Member'));
      return this.#memberJson(m[2]!);
    }
    if ((m = /^\/channels\/(\d+)$/.exec(path)) && method === 'GET') {
      return channelJson(this.#channelOr404(m[1]!));
    }
    if (/^\/channels\/\d+\/typing$/.test(path) && method === 'POST') return undefined;
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(path))) {
      const channel = this.#channelOr404(m[1]!);
      if (method === 'GET') return this.#listMessages(channel, query);
      if (method === 'POST') return this.#createChannelMessage(channel, b);
    }
    if ((m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path))) {
      const channel = this.#channelOr404(m[1]!);
      const message = this.#messages.get(m[2]!);
      if (!message || message.channel_id !== channel.id || message.ephemeralFor !== undefined) {
        throw new RestError(httpError(404, 10008, 'Unknown Message'));
      }
      if (method === 'GET') return this.#json(message);
      if (method === 'PATCH') {
        if (message.author.id !== this.bot.id) throw new RestError(httpError(403, 50005, 'Cannot edit a message authored by another user'));
        this.#checkPermission(channel);
        return this.#json(this.#edit(message, b));
      }
      if (method === 'DELETE') {
        this.deleteMessage(message.id);
        return undefined;
      }
    }
    if ((m = /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/.exec(path)) && method === 'POST') {
      const channel = this.#channelOr404(m[1]!);
      const starter = this.#messages.get(m[2]!);
      if (!starter || starter.channel_id !== channel.id) throw new RestError(httpError(404, 10008, 'Unknown Message'));
      if (this.#channels.has(starter.id)) throw new RestError(httpError(400, 160004, 'A thread has already been created for this message'));
      this.#checkPermission(channel);
      const name = typeof b.name === 'string' ? b.name : '';
      if (name.length < 1 || name.length > 100) {
        this.violation(`thread name of ${name.length} characters`);
        throw new RestError(httpError(400, 50035, 'Invalid Form Body'));
      }
      return channelJson(this.createThread(channel.id, name, this.bot, starter.id));
    }
    throw new RestError(httpError(404, 0, `404: Not Found (${method} ${path})`));
  }

  #channelOr404(id: string): FakeChannel {
    const channel = this.#channels.get(id);
    if (!channel) throw new RestError(httpError(404, 10003, 'Unknown Channel'));
    if (channel.botAbsent) throw new RestError(httpError(403, 50001, 'Missing Access'));
    return channel;
  }

  #json(message: FakeMessage): Record<string, unknown> {
    return messageJson(message, (id) => this.#messages.get(id));
  }

  #checkPermission(channel: FakeChannel): void {
    const muted = channel.botMuted || (channel.parent_id !== undefined && this.#channels.get(channel.parent_id)?.botMuted);
    if (muted) throw new RestError(httpError(403, 50013, 'Missing Permissions'));
    if (channel.botCannotAttach && (this.#pendingFiles?.length ?? 0) > 0) throw new RestError(httpError(403, 50013, 'Missing Permissions'));
  }

  #commandsRoute(method: string, applicationId: string, guildId: string | undefined, body: unknown): unknown {
    if (applicationId !== this.applicationId) throw new RestError(httpError(403, 50001, 'Missing Access'));
    if (guildId !== undefined && !this.guildIds.includes(guildId)) throw new RestError(httpError(403, 50001, 'Missing Access'));
    const key = guildId ?? 'global';
    if (method === 'GET') return this.#commands.get(key) ?? [];
    if (method !== 'PUT' || !Array.isArray(body)) throw new RestError(httpError(400, 50035, 'Invalid Form Body'));
    const commands = (body as RegisteredCommand[]).map((c) => {
      this.#validateCommand(c);
      return { ...c, id: this.snowflakes.next(), application_id: this.applicationId, version: this.snowflakes.next() };
    });
    if (commands.length > 100) this.violation('more than 100 commands');
    this.#commands.set(key, commands);
    this.commandPuts.push({ guildId, body: commands });
    return commands;
  }

  #validateCommand(command: RegisteredCommand): void {
    const name = /^[-_\p{Ll}\p{Lo}\p{N}]{1,32}$/u;
    const check = (where: string, o: { name: string; description: string }) => {
      if (!name.test(o.name)) this.violation(`${where}: invalid name "${o.name}"`);
      if (o.description.length < 1 || o.description.length > 100) this.violation(`${where}: description of ${o.description.length} characters`);
    };
    check(`/${command.name}`, command);
    const walk = (options: RegisteredOption[] | undefined, where: string) => {
      if (!options) return;
      if (options.length > 25) this.violation(`${where}: more than 25 options`);
      let optionalSeen = false;
      for (const o of options) {
        check(`${where} ${o.name}`, o);
        if (o.type === 1) {
          walk(o.options, `${where} ${o.name}`);
          continue;
        }
        if (o.required && optionalSeen) this.violation(`${where} ${o.name}: a required option after an optional one`);
        if (!o.required) optionalSeen = true;
        if (o.autocomplete && o.choices) this.violation(`${where} ${o.name}: autocomplete together with choices`);
        if ((o.choices?.length ?? 0) > 25) this.violation(`${where} ${o.name}: more than 25 choices`);
      }
    };
    walk(command.options, `/${command.name}`);
    if (command.default_member_permissions !== undefined && command.default_member_permissions !== null && !/^\d+$/.test(command.default_member_permissions)) {
      this.violation(`/${command.name}: default_member_permissions is not a bit string`);
    }
  }

  #listMessages(channel: FakeChannel, query: URLSearchParams): unknown {
    const limit = Math.min(Number(query.get('limit') ?? 50), 100);
    let list = this.messages(channel.id).reverse();
    const before = query.get('before');
    const after = query.get('after');
    if (before) list = list.filter((m) => BigInt(m.id) < BigInt(before));
    if (after) list = list.filter((m) => BigInt(m.id) > BigInt(after)).reverse();
    return list.slice(0, limit).map((m) => this.#json(m));
  }

  /** Rules for anything the bot writes: length, allowed_mentions, components. */
  #checkContent(where: string, b: Record<string, unknown>, required: boolean): void {
    const content = b.content;
    if (content !== undefined && content !== null) {
      if (typeof content !== 'string') throw new RestError(httpError(400, 50035, 'Invalid Form Body'));
      if (content.length > MAX_CONTENT) {
        this.violation(`${where}: content of ${content.length} characters (limit ${MAX_CONTENT})`);
        throw new RestError(
          httpError(400, 50035, 'Invalid Form Body', {
            errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } },
          }),
        );
      }
    } else if (required && !b.components) {
      throw new RestError(httpError(400, 50006, 'Cannot send an empty message'));
    }
    const allowed = b.allowed_mentions as { parse?: unknown } | undefined;
    if (!allowed || !Array.isArray(allowed.parse) || allowed.parse.length !== 0) {
      this.violation(`${where}: allowed_mentions is ${JSON.stringify(allowed)} (must be {parse: []})`);
    }
    if (b.components !== undefined) this.#checkComponents(where, b.components);
  }

  #checkComponents(where: string, components: unknown): void {
    if (!Array.isArray(components)) {
      this.violation(`${where}: components is not a list`);
      return;
    }
    if (components.length > 5) this.violation(`${where}: more than 5 action rows`);
    for (const row of components as Array<{ type?: number; components?: Array<Record<string, unknown>> }>) {
      if (row.type !== 1 || !Array.isArray(row.components) || row.components.length === 0 || row.components.length > 5) {
        this.violation(`${where}: malformed action row`);
        continue;
      }
      for (const button of row.components) {
        const id = button.custom_id;
        if (button.type !== 2 || typeof id !== 'string' || id.length > 100 || typeof button.label !== 'string' || button.label.length > 80) {
          this.violation(`${where}: malformed button ${JSON.stringify(button)}`);
        }
      }
    }
  }

  #mentionsEveryone(b: Record<string, unknown>): boolean {
    const content = typeof b.content === 'string' ? b.content : '';
    const allowed = b.allowed_mentions as { parse?: string[] } | undefined;
    return /@(everyone|here)\b/.test(content) && (!allowed || (allowed.parse ?? []).includes('everyone'));
  }

  /**
   * Discord's global limit: 50 requests a second per bot token, or per
   * address for requests without one, as a bucket of 50 that refills at 50 a
   * second (real time, as the clients' own limiters count). Interaction
   * endpoints (the callback, and webhooks with an interaction's token) are
   * exempt. A 429 here is global: X-RateLimit-Global, scope "global".
   */
  #spendGlobal(method: string, path: string, authorization: string | undefined): void {
    if (/^\/interactions\/\d+\/[^/]+\/callback$/.test(path)) return;
    const webhookToken = /^\/webhooks\/\d+\/([^/]+)/.exec(path)?.[1];
    if (webhookToken !== undefined && this.#interactionsByToken.has(webhookToken)) return;
    const key = authorization ?? 'address 127.0.0.1';
    const now = Date.now();
    const rate = this.#globalPerSecond;
    const bucket = this.#global.get(key) ?? { tokens: rate, at: now };
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    this.#global.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfter = (1 - bucket.tokens) / rate;
    this.violation(`${method} ${path}: over the global limit of ${rate} requests a second`);
    throw new RestError({
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: Number(retryAfter.toFixed(3)), global: true },
      headers: { 'retry-after': retryAfter.toFixed(3), 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' },
    });
  }

  /** The per-channel send/edit budget. */
  #spend(channelId: string, where: string): void {
    const now = this.clock.now();
    const sends = (this.#sends.get(channelId) ?? []).filter((t) => t > now - this.#rate.windowMs);
    if (sends.length >= this.#rate.count) {
      const retryAfter = (sends[0]! + this.#rate.windowMs - now) / 1000;
      this.violation(`${where}: more than ${this.#rate.count} sends/edits in ${this.#rate.windowMs} ms in channel ${channelId}`);
      this.#sends.set(channelId, sends);
      throw new RestError({
        status: 429,
        body: { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
        headers: { 'retry-after': retryAfter.toFixed(3), 'x-ratelimit-scope': 'user' },
      });
    }
    sends.push(now);
    this.#sends.set(channelId, sends);
  }

  #createChannelMessage(channel: FakeChannel, b: Record<string, unknown>): unknown {
    const where = `POST /channels/${channel.id}/messages`;
    this.#checkPermission(channel);
    this.#checkContent(where, b, true);
    const ref = b.message_reference as { message_id?: string; fail_if_not_exists?: boolean } | undefined;
    let reference: FakeMessage | undefined;
    if (ref?.message_id) {
      reference = this.#messages.get(ref.message_id);
      if ((!reference || reference.channel_id !== channel.id) && ref.fail_if_not_exists !== false) {
        throw new RestError(httpError(400, 50035, 'Invalid Form Body', { errors: { message_reference: 'Unknown message' } }));
      }
    }
    this.#spend(channel.id, where);
    const message = this.#store({
      channel,
      author: this.bot,
      content: typeof b.content === 'string' ? b.content : '',
      type: reference ? 19 : 0,
      components: (b.components as unknown[] | undefined) ?? [],
      mention_everyone: this.#mentionsEveryone(b),
      message_reference: reference ? { message_id: reference.id, channel_id: channel.id, guild_id: channel.guild_id } : undefined,
      allowedMentions: b.allowed_mentions,
    });
    if (message.mention_everyone) this.violation(`${where}: pinged @everyone`);
    this.#dispatchMessage(message);
    return this.#json(message);
  }

  #edit(message: FakeMessage, b: Record<string, unknown>): FakeMessage {
    const where = `edit of ${message.id}`;
    this.#checkContent(where, b, false);
    if (message.ephemeralFor === undefined) this.#spend(message.channel_id, where);
    if (typeof b.content === 'string') {
      message.content = b.content;
      message.history.push(b.content);
    }
    if (b.components !== undefined) message.components = b.components as unknown[];
    if (this.#pendingFiles) message.uploads = [...(message.uploads ?? []), ...this.#takeFiles()];
    message.flags &= ~LOADING;
    message.editedAt = this.clock.now();
    message.allowedMentions = b.allowed_mentions;
    if (this.#mentionsEveryone(b)) {
      message.mention_everyone = true;
      this.violation(`${where}: pinged @everyone`);
    }
    return message;
  }

  #interactionByToken(applicationId: string, token: string): FakeInteraction {
    if (applicationId !== this.applicationId) throw new RestError(httpError(404, 10015, 'Unknown Webhook'));
    const interaction = this.#interactionsByToken.get(token);
    if (!interaction) throw new RestError(httpError(404, 10015, 'Unknown Webhook'));
    return interaction;
  }

  #callback(id: string, token: string, b: Record<string, unknown>, query: URLSearchParams): unknown {
    const interaction = this.#interactions.get(id);
    if (!interaction || interaction.token !== token) throw new RestError(httpError(404, 10062, 'Unknown interaction'));
    if (Date.now() - interaction.createdReal > this.#ackDeadlineMs) {
      this.violation(`interaction ${id} acknowledged after ${Date.now() - interaction.createdReal} ms`);
      throw new RestError(httpError(404, 10062, 'Unknown interaction'));
    }
    if (interaction.ackType !== undefined) {
      this.violation(`interaction ${id} acknowledged twice`);
      throw new RestError(httpError(400, 40060, 'Interaction has already been acknowledged.'));
    }
    const type = Number(b.type);
    const data = (b.data ?? {}) as Record<string, unknown>;
    const channel = this.#channels.get(interaction.channelId)!;
    const where = `interaction ${id} callback type ${type}`;
    switch (type) {
      case 4:
      case 5: {
        if (interaction.type === 4) this.violation(`${where}: an autocomplete interaction answered with a message`);
        const ephemeral = ((Number(data.flags ?? 0) & EPHEMERAL) !== 0);
        if (type === 4) this.#checkContent(where, data, true);
        interaction.ephemeral = ephemeral;
        const message = this.#store({
          channel,
          author: this.bot,
          content: type === 4 && typeof data.content === 'string' ? data.content : '',
          type: interaction.type === 2 ? 20 : 0,
          flags: (ephemeral ? EPHEMERAL : 0) | (type === 5 ? LOADING : 0),
          components: (data.components as unknown[] | undefined) ?? [],
          interaction,
          ephemeralFor: ephemeral ? interaction.user.id : undefined,
          allowedMentions: data.allowed_mentions,
        });
        interaction.originalId = message.id;
        this.#dispatchMessage(message);
        break;
      }
      case 6:
        if (interaction.type !== 3) this.violation(`${where}: deferred update outside a component interaction`);
        break;
      case 7: {
        const message = interaction.messageId ? this.#messages.get(interaction.messageId) : undefined;
        if (!message) throw new RestError(httpError(400, 50035, 'Invalid Form Body'));
        this.#edit(message, data);
        break;
      }
      case 8: {
        if (interaction.type !== 4) this.violation(`${where}: autocomplete result for a non-autocomplete interaction`);
        const choices = (data.choices ?? []) as Array<{ name: string; value: string | number }>;
        if (choices.length > 25) this.violation(`${where}: ${choices.length} autocomplete choices (limit 25)`);
        for (const choice of choices) {
          if (choice.name.length < 1 || choice.name.length > 100) this.violation(`${where}: choice name of ${choice.name.length} characters`);
          if (typeof choice.value === 'string' && choice.value.length > 100) this.violation(`${where}: choice value of ${choice.value.length} characters`);
        }
        interaction.choices = choices;
        break;
      }
      default:
        throw new RestError(httpError(400, 50035, 'Invalid Form Body'));
    }
    interaction.ackType = type;
    interaction.resolveAck(type);
    if (query.get('with_response') === 'true') {
      const original = interaction.originalId ? this.#messages.get(interaction.originalId) : undefined;
      return {
        interaction: { id: interaction.id, type: interaction.type, response_message_loading: type === 5, response_message_ephemeral: interaction.ephemeral },
        resource: original ? { type, message: this.#json(original) } : { type },
      };
    }
    return undefined;
  }

  #webhook(method: string, applicationId: string, token: string, messageRef: string | undefined, b: Record<string, unknown>): unknown {
    const interaction = this.#interactionByToken(applicationId, token);
    const where = `${method} webhook of interaction ${interaction.id}${messageRef ? ` message ${messageRef}` : ''}`;
    if (this.clock.now() - interaction.createdAt > this.#tokenLifetimeMs) {
      this.violation(`${where}: the interaction token expired ${Math.round((this.clock.now() - interaction.createdAt - this.#tokenLifetimeMs) / 1000)} s ago`);
      throw new RestError(httpError(401, 50027, 'Invalid Webhook Token'));
    }
    if (interaction.ackType === undefined) this.violation(`${where}: used before the interaction was acknowledged`);
    const channel = this.#channels.get(interaction.channelId)!;
    if (messageRef === undefined) {
      if (method !== 'POST') throw new RestError(httpError(405, 0, '405: Method Not Allowed'));
      this.#checkContent(where, b, true);
      const ephemeral = (Number(b.flags ?? 0) & EPHEMERAL) !== 0;
      // Ephemeral messages are not channel messages: the channel's budget does not apply.
      if (!ephemeral) this.#spend(channel.id, where);
      const message = this.#store({
        channel,
        author: this.bot,
        content: typeof b.content === 'string' ? b.content : '',
        type: 0,
        flags: ephemeral ? EPHEMERAL : 0,
        components: (b.components as unknown[] | undefined) ?? [],
        mention_everyone: this.#mentionsEveryone(b),
        interaction,
        ephemeralFor: ephemeral ? interaction.user.id : undefined,
        allowedMentions: b.allowed_mentions,
      });
      if (message.mention_everyone) this.violation(`${where}: pinged @everyone`);
      interaction.followUpIds.push(message.id);
      this.#dispatchMessage(message);
      return this.#json(message);
    }
    const id = messageRef === '@original' ? interaction.originalId : messageRef;
    const message = id ? this.#messages.get(id) : undefined;
    const ours = message && (message.id === interaction.originalId || interaction.followUpIds.includes(message.id));
    if (!message || !ours) throw new RestError(httpError(404, 10008, 'Unknown Message'));
    if (method === 'GET') return this.#json(message);
    if (method === 'PATCH') return this.#json(this.#edit(message, b));
    if (method === 'DELETE') {
      this.#messages.delete(message.id);
      if (message.ephemeralFor === undefined) {
        this.gateway.dispatch('MESSAGE_DELETE', { id: message.id, channel_id: message.channel_id, guild_id: message.guild_id });
      }
      return undefined;
    }
    throw new RestError(httpError(405, 0, '405: Method Not Allowed'));
  }
}

/** A multipart/form-data body as Discord reads it: `payload_json` is the JSON body, every file field an upload. */
async function parseMultipart(raw: Buffer, contentType: string): Promise<{ body: unknown; files: FakeUpload[] }> {
  const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  const payload = form.get('payload_json');
  const files: FakeUpload[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') continue;
    files.push({ field, filename: value.name, contentType: value.type, data: Buffer.from(await value.arrayBuffer()) });
  }
  return { body: typeof payload === 'string' ? (JSON.parse(payload) as unknown) : {}, files };
}

export function buttonIds(message: FakeMessage): string[] {
  const ids: string[] = [];
  for (const row of message.components as Array<{ components?: Array<{ custom_id?: string }> }>) {
    for (const button of row.components ?? []) if (button.custom_id) ids.push(button.custom_id);
  }
  return ids;
}

export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  return new FakeDiscord(options).listen();
}
