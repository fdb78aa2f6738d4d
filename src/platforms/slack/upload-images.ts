/**
 * An answer's pictures on Slack: files.uploadV2 (files.getUploadURLExternal,
 * the upload, files.completeUploadExternal) shares them into the answer's
 * thread. Best effort: the answer text is already shown, so a failed upload
 * is logged and said in the thread, never thrown at the renderer (which would
 * post the answer again).
 */
import type { webApi } from '@slack/bolt';
import type { AnswerImages } from '../../core/answer-images.ts';
import type { Logger } from '../../log.ts';
import { slackErrorCode } from './errors.ts';

export interface UploadTarget {
  client: webApi.WebClient;
  channel: string;
  /** The answer's thread (its own first message when it started one). */
  threadTs: string;
  logger: Logger;
}

/** Shares the pictures into the thread; returns how many were shared. */
export async function uploadAnswerImages(target: UploadTarget, images: AnswerImages | undefined): Promise<number> {
  const files = images?.files ?? [];
  if (files.length === 0) return 0;
  const { client, channel, threadTs, logger } = target;
  try {
    await client.files.uploadV2({
      channel_id: channel,
      thread_ts: threadTs,
      file_uploads: files.map((file) => ({ file: Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength), filename: file.filename, title: file.filename })),
    });
    return files.length;
  } catch (error) {
    const code = slackErrorCode(error) ?? (error instanceof Error ? error.message : String(error));
    logger.warn({ err: error, files: files.length }, 'could not upload the answer pictures to Slack');
    await client.chat
      .postMessage({ channel, thread_ts: threadTs, text: `⚠️ The picture${files.length === 1 ? '' : 's'} could not be uploaded (${code.slice(0, 100)}).`, parse: 'none', link_names: false })
      .catch((noteError: unknown) => logger.warn({ err: noteError }, 'could not say that the pictures failed'));
    return 0;
  }
}
