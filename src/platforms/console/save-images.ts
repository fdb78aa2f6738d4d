/**
 * The terminal cannot show a picture: it saves each one under a directory
 * (CHAT_IMAGE_DIR, ./switchboard-images by default) and prints where.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AnswerImages } from '../../core/answer-images.ts';

/**
 * Writes the pictures as `<dir>/<answer id>-image-<n>.<ext>` (the directory
 * is created when missing) and returns one line per picture: its full path,
 * or why it could not be saved.
 */
export async function saveAnswerImages(dir: string, answerId: string, images: AnswerImages | undefined): Promise<string[]> {
  const files = images?.files ?? [];
  if (files.length === 0) return [];
  const root = resolve(dir);
  const prefix = answerId.replace(/[^\w-]/g, '').slice(0, 12) || 'answer';
  try {
    await mkdir(root, { recursive: true });
  } catch (error) {
    return [`⚠️ Pictures not saved: cannot create ${root} (${error instanceof Error ? error.message : String(error)}).`];
  }
  const lines: string[] = [];
  for (const file of files) {
    const path = join(root, `${prefix}-${file.filename}`);
    try {
      await writeFile(path, file.data);
      lines.push(`🖼️ ${path}`);
    } catch (error) {
      lines.push(`⚠️ ${file.filename} not saved: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return lines;
}
