/**
 * Slack files as the core's InboundAttachment: `url_private` is only served
 * with the bot token (scope files:read), so every file is downloaded here and
 * sent upstream as a data URL; the token goes in the Authorization header and
 * nowhere else.
 */
import type { InboundAttachment } from '../../core/attachments.ts';
import { fetchLimited } from '../../util/fetch-limited.ts';
import type { SlackDeps } from './deps.ts';

/** A file as events and conversations.replies carry it. */
export interface SlackFile {
  id?: string;
  name?: string;
  title?: string;
  mimetype?: string;
  size?: number;
  url_private?: string;
  url_private_download?: string;
  /** `tombstone` for a deleted file; hidden_by_limit files have no URL. */
  mode?: string;
}

export function slackAttachments(deps: Pick<SlackDeps, 'client'>, files: readonly SlackFile[] | undefined): InboundAttachment[] {
  return (files ?? []).map((file) => slackAttachment(deps, file));
}

function slackAttachment(deps: Pick<SlackDeps, 'client'>, file: SlackFile): InboundAttachment {
  const url = file.url_private_download ?? file.url_private;
  const name = file.name ?? file.title ?? file.id ?? 'file';
  return {
    id: `slack:${file.id ?? url ?? name}`,
    name,
    ...(file.mimetype ? { mime: file.mimetype } : {}),
    size: file.size ?? 0,
    async fetch(maxBytes) {
      if (!url || file.mode === 'tombstone') throw new Error('Slack no longer has this file');
      const token = deps.client.token;
      return fetchLimited(url, maxBytes, token ? { authorization: `Bearer ${token}` } : {});
    },
  };
}
