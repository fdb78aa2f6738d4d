/**
 * What the listeners share: the core's AdapterHost, the Web API client, who
 * the bot is, a way to run work after the ack (tracked, so stop() and idle()
 * can wait for it), and where answers go.
 */
import type { webApi } from '@slack/bolt';
import type { AdapterHost } from '../../core/host.ts';
import type { AnswerProgress } from '../../core/progress.ts';
import type { Clock, MessageSurface } from '../../core/types.ts';
import type { Logger } from '../../log.ts';
import type { AssistantStatus } from './assistant-status.ts';
import type { SlackAssistant } from './assistant.ts';
import type { SlackDirectory } from './directory.ts';
import { RETRY_UNSUPPORTED_MS } from './errors.ts';
import { createSlackSurface } from './surface.ts';

export const PLATFORM = 'slack';

export interface BotIdentity {
  userId: string;
  botId: string;
  teamId: string;
}

export interface SlackDeps {
  host: AdapterHost;
  client: webApi.WebClient;
  logger: Logger;
  clock: Clock;
  directory: SlackDirectory;
  /** Who the bot is; undefined until start() asked auth.test. */
  bot(): BotIdentity | undefined;
  /** Runs work after the ack; its errors end here, logged once. */
  track(name: string, work: () => Promise<void>): void;
  surfaces: SlackSurfaces;
  status: AssistantStatus;
  /** SLACK_COMMAND_PREFIX ('' for none). */
  commandPrefix: string;
  /** The assistant view's threads (greeting, prompts, title, the viewed channel's settings). */
  assistant(): SlackAssistant;
}

export interface SurfaceRequest {
  channel: string;
  teamId: string;
  threadTs?: string;
  userId: string;
  requestId: string;
  header?: string;
  /** The answer's progress steps (an assistant thread's status). */
  onProgress?: (step: AnswerProgress | null) => void;
}

/** Makes answer surfaces, remembering for a while that Slack refused native streams here. */
export class SlackSurfaces {
  #streamsUnsupportedUntil = 0;
  constructor(private readonly deps: { client: webApi.WebClient; logger: Logger; clock: Clock }) {}

  create(request: SurfaceRequest): MessageSurface {
    const { client, logger, clock } = this.deps;
    return createSlackSurface({
      client,
      logger,
      clock,
      channel: request.channel,
      teamId: request.teamId,
      threadTs: request.threadTs,
      recipientUserId: request.userId,
      requestId: request.requestId,
      header: request.header,
      onProgress: request.onProgress,
      nativeStream: clock.now() >= this.#streamsUnsupportedUntil,
      onStreamUnsupported: (error) => {
        logger.info({ error }, 'Slack refused chat.startStream; answering with chat.update for a while');
        this.#streamsUnsupportedUntil = clock.now() + RETRY_UNSUPPORTED_MS;
      },
    });
  }
}

/** Runs listeners' work after the ack and knows when all of it has finished. */
export class Tracker {
  readonly #inflight = new Set<Promise<void>>();
  constructor(private readonly logger: Logger) {}

  track(name: string, work: () => Promise<void>): void {
    const task: Promise<void> = work()
      .catch((error: unknown) => {
        this.logger.error({ err: error, task: name }, 'slack handler failed');
      })
      .finally(() => this.#inflight.delete(task));
    this.#inflight.add(task);
  }

  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
  }
}

/** A direct message with the bot: Slack's `im` channel type, or a D… channel id where no type is given (slash commands, buttons). */
export function isDmChannel(channel: string, channelType?: string): boolean {
  return channelType === 'im' || (channelType === undefined && channel.startsWith('D'));
}
