/**
 * Slash commands, autocomplete and buttons. Each listener acknowledges first
 * (well inside Discord's 3 s), then builds an Invocation and hands it to the
 * core's runCommand, which owns the error boundary.
 */
import { randomUUID } from 'node:crypto';
import {
  ApplicationCommandOptionType,
  ChannelType,
  MessageFlags,
  Routes,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type CommandInteractionOption,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import { describeOptions, runCommand, type CommandDefinition, type CommandUser, type Invocation } from '../../core/commands.ts';
import type { HistoryMessage } from '../../core/conversation.ts';
import type { Place } from '../../core/settings.ts';
import { splitMessage } from '../../core/split.ts';
import { modelChoices, toolChoices, type Choice } from './autocomplete.ts';
import { answerSurface, budgeted, conversationKey, isManager, placeOf, PLATFORM, type DiscordContext, type RetryRecord } from './context.ts';
import { describeDiscordError, isMissingPermissions, isRateLimit, MISSING_PERMISSIONS_MESSAGE } from './discord-errors.ts';
import { channelHistory, threadHistory, threadStarterText, toHistory } from './history.ts';
import { MAX_MESSAGE_LENGTH, NO_MENTIONS, parseButtonId, type DiscordAnswerSurface } from './surface.ts';

/** Autocomplete must answer within 3 s; give the catalog this long. */
const AUTOCOMPLETE_BUDGET_MS = 2000;

export async function handleInteraction(ctx: DiscordContext, interaction: Interaction): Promise<void> {
  try {
    if (interaction.isChatInputCommand()) await handleCommand(ctx, interaction);
    else if (interaction.isAutocomplete()) await handleAutocomplete(ctx, interaction);
    else if (interaction.isButton()) await handleButton(ctx, interaction);
  } catch (error) {
    // runCommand catches command errors; this is for Discord failing us (acks, replies).
    ctx.logger.error({ err: error, interaction: interaction.id, reason: describeDiscordError(error) }, 'interaction failed');
  }
}

function userOf(interaction: Interaction): CommandUser {
  return { id: interaction.user.id, name: interaction.member && 'displayName' in interaction.member ? interaction.member.displayName : interaction.user.displayName };
}

function placeOfInteraction(interaction: Interaction): Place {
  const channel = interaction.channel;
  if (channel) return placeOf(channel, interaction.guildId);
  return placeOf({ id: interaction.channelId ?? 'unknown', isThread: () => false }, interaction.guildId);
}

export function optionValues(data: readonly CommandInteractionOption[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const option of data) {
    if (option.type === ApplicationCommandOptionType.Subcommand || option.type === ApplicationCommandOptionType.SubcommandGroup) {
      Object.assign(values, optionValues(option.options ?? []));
    } else {
      values[option.name] = option.value;
    }
  }
  return values;
}

/**
 * Replies to an acknowledged interaction: the deferred reply first (deleted
 * and replaced by an ephemeral follow-up when an ephemeral reply follows a
 * public deferral), then follow-ups.
 */
class InteractionReplier {
  #originalUsed = false;

  constructor(
    private readonly ctx: DiscordContext,
    private readonly interaction: RepliableInteraction,
    private readonly deferredEphemeral: boolean,
    /** Whether someone else (the answer surface) already used the deferred reply. */
    private readonly originalTakenElsewhere: () => boolean = () => false,
  ) {}

  get originalUsed(): boolean {
    return this.#originalUsed || this.originalTakenElsewhere();
  }

  markOriginalUsed(): void {
    this.#originalUsed = true;
  }

  async reply(text: string, ephemeral: boolean): Promise<void> {
    for (const piece of splitMessage(text, MAX_MESSAGE_LENGTH)) await this.#one(piece, ephemeral);
  }

  async #one(content: string, ephemeral: boolean): Promise<void> {
    const { interaction } = this;
    const write = async (fn: () => Promise<unknown>) => {
      // Ephemeral messages are nobody else's business; public ones share the channel's budget.
      if (ephemeral) await retryRateLimited(this.ctx, fn);
      else await budgeted(this.ctx, interaction.channelId ?? 'unknown', fn);
    };
    if (!this.originalUsed) {
      this.#originalUsed = true;
      if (ephemeral === this.deferredEphemeral) {
        await write(() => interaction.editReply({ content, allowedMentions: NO_MENTIONS }));
        return;
      }
      // A public "thinking…" cannot turn ephemeral: remove it and answer privately.
      await interaction.deleteReply().catch((error: unknown) => {
        this.ctx.logger.debug({ err: error }, 'could not delete the deferred reply');
      });
    }
    await write(() =>
      interaction.followUp({ content, allowedMentions: NO_MENTIONS, flags: ephemeral ? MessageFlags.Ephemeral : undefined }),
    );
  }

  /** Leaves no "thinking…" behind when a command ended without replying. */
  async settle(): Promise<void> {
    if (this.originalUsed) return;
    this.#originalUsed = true;
    if (this.deferredEphemeral) await this.interaction.editReply({ content: 'Done.', allowedMentions: NO_MENTIONS });
    else await this.interaction.deleteReply();
  }
}

/** Waits out a per-route 429 (discord.js throws on those for message writes). */
async function retryRateLimited(ctx: DiscordContext, fn: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn();
      return;
    } catch (error) {
      if (!isRateLimit(error) || attempt >= 3) throw error;
      await ctx.clock.sleep(Math.max(error.retryAfter, error.timeToReset, 0));
    }
  }
}

interface AskConversation {
  key: string;
  place: Place;
  history: () => Promise<HistoryMessage[]>;
  surface: (requestId: string) => DiscordAnswerSurface;
}

/** Where an /ask answer goes and what it continues (thread, DM, or a fresh conversation). */
async function askConversation(
  ctx: DiscordContext,
  interaction: RepliableInteraction,
  replier: InteractionReplier,
  prompt: string,
  receivedAt: number,
): Promise<AskConversation | undefined> {
  const { rest } = ctx;
  const place = placeOfInteraction(interaction);
  const channel = interaction.channel;
  const interactionSurface = (requestId: string) =>
    answerSurface(ctx, {
      channelId: place.channelId,
      requestId,
      workspaceId: place.workspaceId,
      interaction: { applicationId: interaction.applicationId, token: interaction.token, receivedAt },
    });
  const botId = ctx.botId();

  if (channel?.isThread()) {
    const thread = { id: channel.id, parentId: channel.parentId };
    return {
      key: conversationKey(channel.id),
      place,
      history: async () => toHistory(await threadHistory(rest, thread), botId),
      surface: interactionSurface,
    };
  }
  if (!interaction.inGuild() || channel?.type === ChannelType.DM) {
    return {
      key: conversationKey(place.channelId),
      place,
      history: async () => toHistory(await channelHistory(rest, place.channelId), botId),
      surface: interactionSurface,
    };
  }
  const settings = await ctx.core.settings.resolve(place);
  const canThread = channel?.type === ChannelType.GuildText || channel?.type === ChannelType.GuildAnnouncement;
  if (!settings.threadPerConversation.value || !canThread || prompt.trim() === '') {
    return { key: conversationKey(interaction.id), place, history: async () => [], surface: interactionSurface };
  }

  // One thread per conversation: the reply becomes the thread's starter message.
  replier.markOriginalUsed();
  try {
    const starter = await budgeted(ctx, place.channelId, () =>
      interaction.editReply({ content: threadStarterText(interaction.user.id, prompt), allowedMentions: NO_MENTIONS }),
    );
    const thread = (await rest.post(Routes.threads(place.channelId, starter.id), {
      body: { name: threadName(prompt), auto_archive_duration: 1440 },
    })) as { id: string };
    const threadPlace: Place = { ...place, channelId: thread.id, parentChannelId: place.channelId };
    return {
      key: conversationKey(thread.id),
      place: threadPlace,
      history: async () => [],
      surface: (requestId) => answerSurface(ctx, { channelId: thread.id, requestId, workspaceId: place.workspaceId }),
    };
  } catch (error) {
    if (!isMissingPermissions(error)) throw error;
    await interaction.deleteReply().catch(() => undefined);
    await interaction.followUp({ content: MISSING_PERMISSIONS_MESSAGE, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
    return undefined;
  }
}

export function threadName(prompt: string): string {
  const line = prompt.replace(/\s+/g, ' ').trim();
  const name = line.length > 90 ? `${line.slice(0, 89)}…` : line;
  return name === '' ? 'Conversation' : name;
}

async function handleCommand(ctx: DiscordContext, interaction: ChatInputCommandInteraction): Promise<void> {
  const receivedAt = ctx.clock.now();
  const command = ctx.core.commands.find((c) => c.name === interaction.commandName);
  if (!command) {
    await interaction.reply({
      content: `I don't know \`/${interaction.commandName}\` any more; the command list is being updated.`,
      flags: MessageFlags.Ephemeral,
      allowedMentions: NO_MENTIONS,
    });
    return;
  }
  const isAsk = command.name === 'ask';
  await interaction.deferReply(isAsk ? {} : { flags: MessageFlags.Ephemeral });

  const subName = interaction.options.getSubcommand(false) ?? undefined;
  const options = optionValues(interaction.options.data);
  let surface: DiscordAnswerSurface | undefined;
  const replier = new InteractionReplier(ctx, interaction, !isAsk, () => (surface?.postedIds.length ?? 0) > 0);
  const user = userOf(interaction);
  const isPlatformAdmin = async () => isManager(interaction.memberPermissions);

  if (!isAsk) {
    const place = placeOfInteraction(interaction);
    const invocation: Invocation = {
      ...place,
      user,
      isPlatformAdmin,
      // Threads and DMs are conversations; in a plain channel /new applies to the channel.
      conversationKey: conversationKey(place.channelId),
      reply: (text, o) => replier.reply(text, o?.ephemeral ?? false),
      answerSurface: () => Promise.reject(new Error(`/${command.name} does not stream an answer`)),
      lookupUser: (ref) => lookupUser(ctx, interaction.guildId, ref),
    };
    await runCommand(ctx.core, command, subName, options, invocation);
    await replier.settle();
    return;
  }

  const prompt = typeof options.prompt === 'string' ? options.prompt : '';
  const conversation = await askConversation(ctx, interaction, replier, prompt, receivedAt);
  if (!conversation) return;
  await ask(ctx, {
    command,
    options,
    user,
    isPlatformAdmin,
    conversation,
    replier,
    setSurface: (s) => (surface = s),
    guildId: interaction.guildId,
  });
}

interface AskInput {
  command: CommandDefinition;
  options: Record<string, unknown>;
  user: CommandUser;
  isPlatformAdmin: () => Promise<boolean>;
  conversation: AskConversation;
  replier: InteractionReplier;
  setSurface: (surface: DiscordAnswerSurface) => void;
  guildId: string | null;
}

/** Runs /ask (from the command or a Retry button) and remembers it for Retry. */
async function ask(ctx: DiscordContext, input: AskInput): Promise<void> {
  const { conversation, replier } = input;
  const requestId = randomUUID();
  let surface: DiscordAnswerSurface | undefined;
  const record: RetryRecord = {
    prompt: typeof input.options.prompt === 'string' ? input.options.prompt : '',
    model: typeof input.options.model === 'string' ? input.options.model : undefined,
    place: conversation.place,
    conversationKey: conversation.key,
    history: conversation.history,
  };
  ctx.retries.set(requestId, record);
  const invocation: Invocation = {
    ...conversation.place,
    user: input.user,
    isPlatformAdmin: input.isPlatformAdmin,
    conversationKey: conversation.key,
    requestId,
    reply: (text, o) => replier.reply(text, o?.ephemeral ?? false),
    async answerSurface() {
      surface = conversation.surface(requestId);
      input.setSurface(surface);
      return surface;
    },
    history: conversation.history,
    lookupUser: (ref) => lookupUser(ctx, input.guildId, ref),
  };
  try {
    await runCommand(ctx.core, input.command, undefined, input.options, invocation);
  } finally {
    if (surface) {
      ctx.live.forget(surface.postedIds);
      for (const id of surface.postedIds) ctx.asked.set(id, { prompt: record.prompt, userId: input.user.id, userName: input.user.name });
    }
  }
  if (surface?.permissionProblem) await replier.reply(MISSING_PERMISSIONS_MESSAGE, true);
  await replier.settle();
}

async function lookupUser(ctx: DiscordContext, guildId: string | null, ref: string): Promise<CommandUser | undefined> {
  const id = /^<@!?(\d+)>$/.exec(ref.trim())?.[1] ?? ref.trim();
  if (!/^\d{5,25}$/.test(id)) return undefined;
  try {
    if (guildId) {
      const guild = await ctx.client.guilds.fetch(guildId);
      const member = await guild.members.fetch(id);
      return { id: member.id, name: member.displayName };
    }
    const user = await ctx.client.users.fetch(id);
    return { id: user.id, name: user.displayName };
  } catch {
    return undefined;
  }
}

async function handleAutocomplete(ctx: DiscordContext, interaction: AutocompleteInteraction): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const command = ctx.core.commands.find((c) => c.name === interaction.commandName);
  const subName = interaction.options.getSubcommand(false);
  const schema = subName ? command?.subcommands?.[subName]?.options : command?.options;
  const hint = describeOptions(schema).find((o) => o.name === focused.name)?.hints.autocomplete;
  const typed = String(focused.value);
  let choices: Choice[] = [];
  try {
    if (hint === 'model') choices = await withDeadline(modelChoices(ctx.core, typed), AUTOCOMPLETE_BUDGET_MS, []);
    else if (hint === 'tool') choices = toolChoices(ctx.core, typed);
  } catch (error) {
    ctx.logger.warn({ err: error }, 'autocomplete lookup failed');
  }
  await interaction.respond(choices);
}

/** Real-time deadline: Discord's 3 s do not follow the core's clock. */
async function withDeadline<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function handleButton(ctx: DiscordContext, interaction: ButtonInteraction): Promise<void> {
  const parsed = parseButtonId(interaction.customId);
  const ephemeral = (content: string) => interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
  if (!parsed) {
    await ephemeral('This button no longer works.');
    return;
  }
  const user = userOf(interaction);
  const place = placeOfInteraction(interaction);
  const isPlatformAdmin = async () => isManager(interaction.memberPermissions);

  if (parsed.action === 'stop') {
    const owner = ctx.core.pipeline.ownerOf(parsed.requestId);
    if (owner === undefined) {
      await ephemeral('This answer has already finished.');
      return;
    }
    if (owner !== user.id && !(await ctx.core.isAdmin({ platform: PLATFORM, user, isPlatformAdmin }))) {
      await ephemeral('Only the person who asked, or an admin, can stop this answer.');
      return;
    }
    await interaction.deferUpdate();
    const stopped = ctx.core.pipeline.stop({ platform: PLATFORM, workspaceId: place.workspaceId, requestId: parsed.requestId }, user.name);
    ctx.logger.info({ requestId: parsed.requestId, by: user.id, stopped }, 'stop button pressed');
    return;
  }

  const record = ctx.retries.get(parsed.requestId);
  const command = ctx.core.commands.find((c) => c.name === 'ask');
  if (!record || !command) {
    await ephemeral("I no longer have that question (the bot restarted since); ask again with `/ask`.");
    return;
  }
  const receivedAt = ctx.clock.now();
  await interaction.deferReply();
  let surface: DiscordAnswerSurface | undefined;
  const replier = new InteractionReplier(ctx, interaction, false, () => (surface?.postedIds.length ?? 0) > 0);
  const conversation: AskConversation = {
    key: record.conversationKey,
    place: record.place,
    history: record.history,
    surface: (requestId) =>
      answerSurface(ctx, {
        channelId: place.channelId,
        requestId,
        workspaceId: place.workspaceId,
        interaction: { applicationId: interaction.applicationId, token: interaction.token, receivedAt },
      }),
  };
  const options: Record<string, unknown> = { prompt: record.prompt };
  if (record.model !== undefined) options.model = record.model;
  await ask(ctx, {
    command,
    options,
    user,
    isPlatformAdmin,
    conversation,
    replier,
    setSurface: (s) => (surface = s),
    guildId: interaction.guildId,
  });
}
