/**
 * The fake Slack's AI-app and App Home side (kept apart from slack.ts so it
 * merges cleanly): assistant.threads.* (prompts, titles; setStatus is in
 * slack.ts), the assistant and Home events, views.publish with Block Kit
 * checks (shape, 100 blocks, text sizes, image blocks; a slack_file must have
 * been uploaded through the fake Slack's files.uploadV2, see slack-files.ts).
 * Every rule broken is recorded in the fake's `violations`.
 */
import type { Delivery, FakeSlack } from './slack.ts';

export interface PublishedView {
  userId: string;
  view: { type: string; blocks: Array<Record<string, unknown>>; [key: string]: unknown };
}

export interface UploadedFile {
  id: string;
  filename: string;
  length: number;
  bytes?: Buffer;
  completed: boolean;
  title?: string;
  channelId?: string;
}

export interface NativeSlack {
  readonly prompts: Array<{ channel: string; threadTs: string; title?: string; prompts: Array<{ title: string; message: string }> }>;
  readonly titles: Array<{ channel: string; threadTs: string; title: string }>;
  readonly views: PublishedView[];
  readonly files: Map<string, UploadedFile>;
  /** The user opens the assistant view: Slack makes the thread (its root message) and sends assistant_thread_started. */
  threadStarted(input: { user: string; channel: string; context?: { channelId: string; teamId?: string } }): Promise<{ threadTs: string; delivery: Delivery }>;
  contextChanged(input: { user: string; channel: string; threadTs: string; context: { channelId: string; teamId?: string } }): Promise<Delivery>;
  homeOpened(input: { user: string; channel?: string }): Promise<Delivery>;
}

/** Slack's documented limits for views and their blocks. */
export const VIEW_LIMITS = { blocks: 100, sectionText: 3_000, headerText: 150, contextElements: 10, imageAltText: 2_000, fields: 10, fieldText: 2_000 } as const;

const KNOWN_BLOCKS = new Set(['section', 'header', 'context', 'divider', 'image', 'actions', 'rich_text', 'markdown']);

export function extendFakeSlack(fake: FakeSlack): NativeSlack {
  const prompts: NativeSlack['prompts'] = [];
  const titles: NativeSlack['titles'] = [];
  const views: PublishedView[] = [];
  const violation = (text: string) => fake.violations.push(text);
  const ok = (body: Record<string, unknown> = {}) => ({ body: { ok: true, ...body } });
  const fail = (error: string) => ({ body: { ok: false, error } });
  const parse = (value: unknown): unknown => (typeof value === 'string' && /^[[{]/.test(value) ? JSON.parse(value) : value);

  /** The view's problems as Slack would name them (empty when it is fine). */
  function checkView(view: PublishedView['view']): string[] {
    const problems: string[] = [];
    if (view.type !== 'home') problems.push(`view type ${String(view.type)} (expected home)`);
    if (!Array.isArray(view.blocks)) return [...problems, 'blocks is not an array'];
    if (view.blocks.length > VIEW_LIMITS.blocks) problems.push(`${view.blocks.length} blocks (limit ${VIEW_LIMITS.blocks})`);
    for (const [i, block] of view.blocks.entries()) {
      const type = String(block.type);
      if (!KNOWN_BLOCKS.has(type)) problems.push(`block ${i}: unknown type ${type}`);
      const text = block.text as { type?: string; text?: string } | undefined;
      if (type === 'section') {
        if (!text && !Array.isArray(block.fields)) problems.push(`block ${i}: section without text or fields`);
        if (text && (typeof text.text !== 'string' || text.text.length === 0 || text.text.length > VIEW_LIMITS.sectionText)) problems.push(`block ${i}: section text of ${text.text?.length ?? 0} characters`);
        const fields = block.fields as Array<{ text?: string }> | undefined;
        if (fields && (fields.length > VIEW_LIMITS.fields || fields.some((f) => !f.text || f.text.length > VIEW_LIMITS.fieldText))) problems.push(`block ${i}: bad fields`);
      }
      if (type === 'header' && (text?.type !== 'plain_text' || !text.text || text.text.length > VIEW_LIMITS.headerText)) problems.push(`block ${i}: header text must be plain_text of 1-150 characters`);
      if (type === 'context') {
        const elements = block.elements as unknown[] | undefined;
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > VIEW_LIMITS.contextElements) problems.push(`block ${i}: context needs 1-10 elements`);
      }
      if (type === 'image') {
        const alt = block.alt_text;
        if (typeof alt !== 'string' || alt === '' || alt.length > VIEW_LIMITS.imageAltText) problems.push(`block ${i}: image needs alt_text`);
        const slackFile = block.slack_file as { id?: string; url?: string } | undefined;
        if (!block.image_url && !slackFile) problems.push(`block ${i}: image needs image_url or slack_file`);
        if (slackFile?.id && !fake.files.some((f) => f.id === slackFile.id)) problems.push(`block ${i}: slack_file ${slackFile.id} was never uploaded`);
      }
    }
    return problems;
  }

  fake.extendApi((method, args) => {
    switch (method) {
      case 'assistant.threads.setSuggestedPrompts': {
        const list = parse(args.prompts) as Array<{ title: string; message: string }> | undefined;
        if (!Array.isArray(list) || list.length === 0 || list.length > 4) {
          violation(`assistant.threads.setSuggestedPrompts: ${Array.isArray(list) ? list.length : 'no'} prompts (1-4)`);
          return fail('invalid_arguments');
        }
        prompts.push({ channel: String(args.channel_id), threadTs: String(args.thread_ts), title: typeof args.title === 'string' ? args.title : undefined, prompts: list });
        return ok();
      }
      case 'assistant.threads.setTitle': {
        if (typeof args.title !== 'string' || args.title === '') return fail('invalid_arguments');
        titles.push({ channel: String(args.channel_id), threadTs: String(args.thread_ts), title: args.title });
        return ok();
      }
      case 'views.publish': {
        const view = parse(args.view) as PublishedView['view'];
        const userId = typeof args.user_id === 'string' ? args.user_id : '';
        if (!fake.users.has(userId)) return fail('user_not_found');
        const problems = checkView(view);
        if (problems.length > 0) {
          for (const problem of problems) violation(`views.publish: ${problem}`);
          return fail('invalid_arguments');
        }
        views.push({ userId, view });
        return ok({ view: { id: `V${views.length}`, type: 'home' } });
      }
      default:
        return undefined;
    }
  });


  const threadEvent = (type: string, input: { user: string; channel: string; threadTs: string; context?: { channelId: string; teamId?: string } }) => ({
    type,
    assistant_thread: {
      user_id: input.user,
      channel_id: input.channel,
      thread_ts: input.threadTs,
      context: input.context ? { channel_id: input.context.channelId, team_id: input.context.teamId ?? fake.teamId, enterprise_id: null } : {},
    },
    event_ts: String(Date.now() / 1000),
  });

  return {
    prompts,
    titles,
    views,
    // The uploads themselves are the fake Slack's (test/fakes/slack-files.ts); this is the view the Home tests read.
    get files() {
      return new Map(fake.files.map((f) => [f.id, { id: f.id, filename: f.filename, length: f.length, bytes: f.data, completed: true, title: f.title, channelId: f.channel }]));
    },
    async threadStarted({ user, channel, context }) {
      // Slack opens the thread with a message of its own, on the app's behalf.
      const root = fake.addMessage({ channel, user: fake.botUserId, bot_id: fake.botId, text: 'New Assistant Thread', subtype: 'assistant_app_thread', origin: 'postMessage' });
      const delivery = await fake.sendEvent(threadEvent('assistant_thread_started', { user, channel, threadTs: root.ts, context }));
      return { threadTs: root.ts, delivery };
    },
    contextChanged(input) {
      return fake.sendEvent(threadEvent('assistant_thread_context_changed', input));
    },
    homeOpened({ user, channel }) {
      return fake.sendEvent({ type: 'app_home_opened', user, channel: channel ?? `D${user.slice(1)}`, tab: 'home', event_ts: String(Date.now() / 1000) });
    },
  };
}
