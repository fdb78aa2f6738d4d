/**
 * The terminal chat: the same core and commands as Discord and Slack, with
 * standard input as the channel. Works interactively and piped (one message a
 * line; it ends after the last answer when input ends).
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { formatImageProblems, type AnswerImages } from '../../core/answer-images.ts';
import { formatFooterText, formatSources, reasoningText } from '../../core/answer-view.ts';
import { DEFAULT_CHAT_IMAGE_DIR } from '../../config.ts';
import { saveAnswerImages } from './save-images.ts';
import { usageOf } from '../../core/commands.ts';
import type { HistoryMessage } from '../../core/conversation.ts';
import type { AdapterHost } from '../../core/host.ts';
import type { InboundPort } from '../../core/inbound.ts';
import type { InboundAttachment } from '../../core/attachments.ts';
import { parseCommandLine } from '../../core/parse-command-line.ts';
import { progressLine } from '../../core/progress.ts';
import { localAttachment } from './attach.ts';
import type { MessageSurface, NativeStream } from '../../core/types.ts';

export interface ConsoleChatOptions {
  host: AdapterHost;
  input: Readable;
  output: Writable;
  user: { id: string; name: string };
  /** ANSI colours (a TTY). */
  color?: boolean;
  /** Prompt shown before each line when interactive. */
  prompt?: string;
  /** Where pictures models draw are saved (default ./switchboard-images; see save-images.ts). */
  imageDir?: string;
}

export interface ConsoleChat {
  /** Resolves when input has ended and the last answer is complete. */
  done: Promise<void>;
  /** Stops the answer being written, if any; false when none was running. */
  interrupt(): boolean;
}

/** Command replies use chat Markdown; a terminal shows **bold** as bold (or plain) and _(notes)_ plainly. */
export function forTerminal(text: string, color: boolean): string {
  return text
    .replace(/\*\*([^*\n]+)\*\*/g, (_, inner: string) => (color ? `\x1b[1m${inner}\x1b[0m` : inner))
    .replace(/(^|\s)_\(([^)\n]+)\)_/g, '$1($2)');
}

/** Back to the start of the line and erase it (the live status line). */
const CLEAR_LINE = '\r\x1b[2K';

const PLACE = { platform: 'console', workspaceId: 'local', channelId: 'terminal' } as const;

export function startConsoleChat(options: ConsoleChatOptions): ConsoleChat {
  const { host, output, user } = options;
  const dim = (text: string) => (options.color ? `\x1b[2m${text}\x1b[0m` : text);
  const write = (text: string) => {
    output.write(text);
  };
  const history: HistoryMessage[] = [];
  /** The answer being written, for Ctrl-C. */
  let running: string | undefined;
  /** The answer whose tool call waits for y or n. */
  let approval: string | undefined;
  /** Answer text has been printed on the current line of the answer being written. */
  let textOut = false;
  const imageDir = options.imageDir ?? DEFAULT_CHAT_IMAGE_DIR;
  /** Saves an ended answer's pictures and prints their paths (the terminal shows no pictures). */
  const savePictures = async (images: AnswerImages | undefined) => {
    const lines = await saveAnswerImages(imageDir, running ?? 'answer', images);
    if (lines.length > 0) write(`${lines.join('\n')}\n`);
  };
  /** Files `/attach` added for the next message, and those of the message being answered (kept in history). */
  let pending: InboundAttachment[] = [];
  let asked: InboundAttachment[] = [];

  const surface: MessageSurface = {
    maxMessageLength: 1_000_000,
    rateLimit: { count: 1000, windowMs: 1000 },
    budgetKey: 'console',
    // The terminal cannot edit what it printed: post prints, edit prints only what is new.
    async post(text, postOptions) {
      // A tool asking first: a line of its own, answered with y or n.
      if (postOptions?.actions?.some((a) => a.id === 'allow') && running !== undefined) {
        approval = running;
        write(`\n${forTerminal(text, options.color === true)} [y/n] `);
        return { id: 'approval' };
      }
      shown = text;
      write(text);
      return { id: 'terminal' };
    },
    async edit(id, text, postOptions) {
      if (id === 'approval') {
        write(`${dim(forTerminal(text, false))}\n`);
        return;
      }
      if (text.startsWith(shown)) write(text.slice(shown.length));
      else write(`\n${text}`);
      shown = text;
      if (postOptions?.view?.final) await savePictures(postOptions.view.images);
    },
    // A tool starting once text is out gets a dim line of its own (before the text, status() shows it).
    progress(step) {
      if (step && textOut) write(`\n${dim(progressLine(step))}\n`);
    },
    stream(): NativeStream {
      let started = false;
      /** A TTY shows the status on one line rewritten in place; piped output gets a line per new kind of status. */
      let liveLine = false;
      let lastShape = '';
      const clearLive = () => {
        if (liveLine) write(CLEAR_LINE);
        liveLine = false;
      };
      textOut = false;
      return {
        async append(text) {
          clearLive();
          started = true;
          textOut = true;
          write(text);
        },
        // Only before the answer starts: later statuses would break the text.
        async status(text) {
          if (started) return;
          if (options.color === true) {
            if (text === null) clearLive();
            else {
              write(`${CLEAR_LINE}${dim(text)}`);
              liveLine = true;
            }
            return;
          }
          // "💭 thinking… 3s · a line" → "💭 thinking… 6s · the next line" is the same status: one line, not one per refresh.
          const shape = text === null ? '' : text.split(' · ')[0]!.replace(/\d+/g, '#');
          if (text !== null && shape !== lastShape) write(`${text}\n`);
          lastShape = shape;
        },
        async stop(end) {
          clearLive();
          const lines = [end.endLine?.text, end.footer ? `— ${formatFooterText(end.footer)}` : undefined].filter((l) => l !== undefined);
          if (end.endLine?.kind === 'interrupted') lines.reverse();
          const reasoning = reasoningText(end.footer);
          if (reasoning !== '') lines.unshift(reasoning);
          const sources = formatSources(end.sources);
          const problems = formatImageProblems(end.images);
          if (problems !== '') lines.unshift(problems);
          write(`${started ? '\n' : ''}${sources === '' ? '' : `\n${sources}\n`}${lines.map((l) => dim(l)).join('\n')}\n`);
          await savePictures(end.images);
        },
      };
    },
  };
  let shown = '';

  const conversation = { platform: PLACE.platform, workspaceId: PLACE.workspaceId, channelId: PLACE.channelId, label: 'this terminal chat' };
  const port: InboundPort = {
    isPlatformAdmin: async () => true,
    async reply(text) {
      write(`${forTerminal(text, options.color === true)}\n`);
    },
    async answerSurface(requestId) {
      running = requestId;
      shown = '';
      return surface;
    },
    async history() {
      return [...history];
    },
    onAnswer(prompt, answer, annotations) {
      const at = new Date(host.clock.now());
      history.push({ role: 'user', text: prompt, at, authorId: user.id, authorName: user.name, ...(asked.length > 0 ? { attachments: asked } : {}) });
      if (answer.trim() !== '') history.push({ role: 'assistant', text: answer, at, ...(annotations ? { annotations } : {}) });
    },
    onSettled() {
      running = undefined;
    },
  };

  const handle = async (line: string): Promise<void> => {
    const text = line.trim();
    if (text === '') return;
    if (text === '/help') {
      write(['Commands:', ...host.commands.flatMap((c) => (c.subcommands ? Object.keys(c.subcommands).map((s) => `  ${usageOf(c, s)}`) : [`  ${usageOf(c)}`])), '  /attach <path>  (a file for the next message; /attach none clears)', '  /quit', ''].join('\n'));
      return;
    }
    if (text === '/attach' || text.startsWith('/attach ')) {
      await attach(text.slice('/attach'.length).trim());
      return;
    }
    const who = { id: user.id, name: user.name };
    // The files go with the next message or command, whatever it is; an answer keeps them in its history.
    asked = pending;
    pending = [];
    const attachments = asked.length > 0 ? { attachments: asked } : {};
    if (!text.startsWith('/')) {
      await host.handle({ kind: 'message', place: PLACE, user: who, parts: [{ type: 'text', text }], conversation, port, ...attachments });
      return;
    }
    const parsed = parseCommandLine(text, host.commands);
    if (!parsed.ok) {
      write(`${parsed.error}\n`);
      return;
    }
    await host.handle({
      kind: 'command',
      place: PLACE,
      user: who,
      name: parsed.command.name,
      subcommand: parsed.subName,
      options: parsed.options,
      conversation,
      port,
      ...attachments,
    });
  };

  /** `/attach <path>` adds a file for the next message; `/attach` lists them; `/attach none` clears them. */
  const attach = async (path: string): Promise<void> => {
    if (path === '') {
      write(pending.length === 0 ? 'No files attached. Use /attach <path>.\n' : `Attached for the next message: ${pending.map((f) => f.name).join(', ')}\n`);
      return;
    }
    if (path === 'none') {
      pending = [];
      write('Attachments cleared.\n');
      return;
    }
    try {
      const file = await localAttachment(path.replace(/^(["'])(.*)\1$/, '$2'));
      pending.push(file);
      write(`Attached ${file.name} for the next message (${pending.length} file${pending.length === 1 ? '' : 's'}).\n`);
    } catch (error) {
      write(`Cannot attach ${path}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  };

  const lines = createInterface({ input: options.input, terminal: false });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  lines.on('line', (line) => {
    // While a tool asks first, y or n answers it at once (the answer being written holds the queue).
    const yes = /^\s*(y|yes)\s*$/i.test(line);
    if (approval !== undefined && (yes || /^\s*(n|no)\s*$/i.test(line))) {
      const requestId = approval;
      approval = undefined;
      void host.handle({ kind: 'action', action: yes ? 'allow' : 'deny', requestId, place: PLACE, user: { id: user.id, name: user.name }, port });
      return;
    }
    queue.push(line);
    wake?.();
  });
  lines.on('close', () => {
    ended = true;
    wake?.();
  });

  const showPrompt = () => {
    if (options.prompt) write(options.prompt);
  };

  const done = (async () => {
    showPrompt();
    for (;;) {
      const line = queue.shift();
      if (line !== undefined) {
        if (/^\/(quit|exit)$/.test(line.trim())) break;
        await handle(line);
        showPrompt();
        continue;
      }
      if (ended) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    lines.close();
  })();

  return {
    done,
    interrupt() {
      if (running === undefined) return false;
      return host.stopAnswer(PLACE, running, user.name) > 0;
    },
  };
}
