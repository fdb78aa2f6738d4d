/**
 * The state of the fake Discord: users, one guild with roles and channels,
 * messages, interactions and registered commands, plus the JSON shapes
 * Discord's API v10 sends for them.
 */

export const DISCORD_EPOCH = 1_420_070_400_000n;

export const Permission = {
  Administrator: 1n << 3n,
  ManageGuild: 1n << 5n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ReadMessageHistory: 1n << 16n,
  UseApplicationCommands: 1n << 31n,
  CreatePublicThreads: 1n << 35n,
  SendMessagesInThreads: 1n << 38n,
} as const;

export const EVERYONE_PERMISSIONS =
  Permission.ViewChannel | Permission.SendMessages | Permission.ReadMessageHistory | Permission.UseApplicationCommands | Permission.SendMessagesInThreads;
export const ALL_PERMISSIONS = (1n << 50n) - 1n;

export interface FakeUser {
  id: string;
  username: string;
  global_name: string | null;
  bot?: boolean;
}

export interface FakeRole {
  id: string;
  name: string;
  permissions: bigint;
}

export interface FakeChannel {
  id: string;
  /** 0 text, 1 DM, 3 group DM, 11 public thread. */
  type: 0 | 1 | 3 | 11;
  name?: string;
  guild_id?: string;
  parent_id?: string;
  owner_id?: string;
  recipients?: FakeUser[];
  /** The bot may not post here (Missing Permissions, 50013). */
  botMuted?: boolean;
  /** The bot is not in this channel (a group DM where only the app is user-installed): bot-token calls get 50001, no gateway events. */
  botAbsent?: boolean;
  /** The bot lacks Attach Files here: channel messages with files get 50013 (interaction webhooks need no permission). */
  botCannotAttach?: boolean;
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  author: FakeUser;
  content: string;
  /** Virtual ms. */
  createdAt: number;
  editedAt?: number;
  /** 0 default, 19 reply, 20 chat input command. */
  type: number;
  flags: number;
  components: unknown[];
  message_reference?: { message_id: string; channel_id: string; guild_id?: string };
  webhook_id?: string;
  application_id?: string;
  interaction?: { id: string; user: FakeUser; name: string };
  mention_everyone: boolean;
  mentions: FakeUser[];
  /** The allowed_mentions the bot sent with the latest create/edit. */
  allowedMentions?: unknown;
  /** Ephemeral: only this user sees it; not in channel listings. */
  ephemeralFor?: string;
  /** Every content this message has had, oldest first. */
  history: string[];
  /** Files the bot uploaded with this message (multipart `files[n]`), in order, across edits. */
  uploads?: FakeUpload[];
  /** Files on the message, as the API lists them (URLs served by the fake's CDN). */
  attachments?: FakeAttachment[];
}

/** A file uploaded in a multipart request. */
export interface FakeUpload {
  /** The form field, e.g. `files[0]`. */
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

/** An attachment object as Discord's API sends it. */
export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type?: string;
}

export interface FakeInteraction {
  id: string;
  token: string;
  /** 2 command, 3 component, 4 autocomplete. */
  type: 2 | 3 | 4;
  user: FakeUser;
  channelId: string;
  guildId?: string;
  /** Virtual ms when it was created (token lifetime). */
  createdAt: number;
  /** Real ms (the 3 s acknowledgement deadline). */
  createdReal: number;
  /** Callback type once acknowledged. */
  ackType?: number;
  ephemeral: boolean;
  originalId?: string;
  followUpIds: string[];
  /** Command name (type 2/4). */
  name?: string;
  /** Autocomplete answer. */
  choices?: Array<{ name: string; value: string | number }>;
  /** The message a button sits on. */
  messageId?: string;
  ack: Promise<number>;
  resolveAck(type: number): void;
}

export interface RegisteredOption {
  type: number;
  name: string;
  description: string;
  required?: boolean;
  choices?: Array<{ name: string; value: string | number }>;
  autocomplete?: boolean;
  options?: RegisteredOption[];
  min_value?: number;
  max_value?: number;
  max_length?: number;
}

export interface RegisteredCommand {
  id: string;
  name: string;
  description: string;
  options?: RegisteredOption[];
  default_member_permissions?: string | null;
  [key: string]: unknown;
}

export class Snowflakes {
  #increment = 0n;
  constructor(private readonly now: () => number) {}
  next(): string {
    this.#increment = (this.#increment + 1n) & 0xfffn;
    return ((BigInt(Math.floor(this.now())) - DISCORD_EPOCH) << 22n | (1n << 17n) | this.#increment).toString();
  }
}

export function userJson(user: FakeUser): Record<string, unknown> {
  return {
    id: user.id,
    username: user.username,
    global_name: user.global_name,
    discriminator: '0',
    avatar: null,
    bot: user.bot ?? false,
    public_flags: 0,
  };
}

export function channelJson(channel: FakeChannel): Record<string, unknown> {
  const base: Record<string, unknown> = { id: channel.id, type: channel.type, flags: 0 };
  if (channel.type === 1 || channel.type === 3) {
    base.recipients = (channel.recipients ?? []).map(userJson);
    base.last_message_id = null;
    if (channel.type === 3) {
      base.name = channel.name ?? null;
      base.owner_id = channel.owner_id;
    }
    return base;
  }
  base.guild_id = channel.guild_id;
  base.name = channel.name;
  base.position = 0;
  base.permission_overwrites = [];
  base.nsfw = false;
  base.parent_id = channel.parent_id ?? null;
  if (channel.type === 11) {
    base.owner_id = channel.owner_id;
    base.thread_metadata = {
      archived: false,
      auto_archive_duration: 1440,
      archive_timestamp: new Date(0).toISOString(),
      locked: false,
    };
    base.message_count = 0;
    base.member_count = 1;
    base.rate_limit_per_user = 0;
  } else {
    base.topic = null;
    base.rate_limit_per_user = 0;
    base.last_message_id = null;
  }
  return base;
}

export function messageJson(message: FakeMessage, lookup: (id: string) => FakeMessage | undefined, depth = 0): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: message.id,
    type: message.type,
    channel_id: message.channel_id,
    author: userJson(message.author),
    content: message.content,
    timestamp: new Date(message.createdAt).toISOString(),
    edited_timestamp: message.editedAt === undefined ? null : new Date(message.editedAt).toISOString(),
    tts: false,
    mention_everyone: message.mention_everyone,
    mentions: message.mentions.map(userJson),
    mention_roles: [],
    attachments: message.attachments ?? [],
    embeds: [],
    pinned: false,
    flags: message.flags,
    components: message.components,
  };
  if (message.guild_id) json.guild_id = message.guild_id;
  if (message.webhook_id) json.webhook_id = message.webhook_id;
  if (message.application_id) json.application_id = message.application_id;
  if (message.message_reference) {
    json.message_reference = { type: 0, ...message.message_reference };
    if (depth === 0) {
      const referenced = lookup(message.message_reference.message_id);
      json.referenced_message = referenced ? messageJson(referenced, lookup, depth + 1) : null;
    }
  }
  if (message.interaction) {
    json.interaction_metadata = {
      id: message.interaction.id,
      type: 2,
      name: message.interaction.name,
      user: userJson(message.interaction.user),
      authorizing_integration_owners: message.guild_id ? { '0': message.guild_id } : { '1': message.interaction.user.id },
    };
  }
  return json;
}
