/**
 * Discord attachments as the core's InboundAttachment: the CDN URL is passed
 * to OpenRouter as it is for images within the limit (no download here; see
 * README "Discord: URL or download") and fetched for everything else.
 */
import type { Attachment, CommandInteractionOption } from 'discord.js';
import { ApplicationCommandOptionType } from 'discord.js';
import type { InboundAttachment } from '../../core/attachments.ts';
import type { RecordedFile } from '../../core/store-types.ts';
import { fetchLimited } from '../../util/fetch-limited.ts';

/** An attachment as the API sends it (message objects, data.resolved.attachments). */
export interface RawAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  content_type?: string | null;
}

export function fromRawAttachment(raw: RawAttachment): InboundAttachment {
  return {
    id: `discord:${raw.id}`,
    name: raw.filename,
    ...(raw.content_type ? { mime: raw.content_type } : {}),
    size: raw.size,
    publicUrl: raw.url,
    fetch: (maxBytes) => fetchLimited(raw.url, maxBytes),
  };
}

/**
 * A file an answer record kept (an /ask option's). Its signed CDN URL may have
 * expired, and no message can be read again for a fresh one, so it is always
 * downloaded (or read from the core's cache): a dead URL then becomes a note
 * instead of a URL OpenRouter fails to fetch.
 */
export function fromRecordedFile(file: RecordedFile): InboundAttachment {
  return {
    id: file.id,
    name: file.name,
    ...(file.mime ? { mime: file.mime } : {}),
    size: file.size,
    fetch: (maxBytes) => fetchLimited(file.url, maxBytes),
  };
}

/** discord.js's Attachment, the same way. */
export function fromAttachment(a: Attachment): InboundAttachment {
  return fromRawAttachment({ id: a.id, filename: a.name, size: a.size, url: a.url, content_type: a.contentType });
}

/** The files of a slash command's attachment options (type 11, resolved by discord.js from data.resolved.attachments). */
export function optionAttachments(data: readonly CommandInteractionOption[]): InboundAttachment[] {
  const out: InboundAttachment[] = [];
  for (const option of data) {
    if (option.type === ApplicationCommandOptionType.Attachment && option.attachment) out.push(fromAttachment(option.attachment));
    else if (option.options) out.push(...optionAttachments(option.options));
  }
  return out;
}
