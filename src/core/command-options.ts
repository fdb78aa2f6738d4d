import { z } from 'zod';
import type { SettingsLevel } from './settings.ts';

/** `channel` (default) or `server` (the guild or workspace). */
export const scopeOption = z
  .enum(['channel', 'server'])
  .optional()
  .describe('channel (default) or server (the whole guild or workspace)');

export function levelOf(scope: 'channel' | 'server' | undefined): SettingsLevel {
  return scope ?? 'channel';
}

export function scopeWords(level: SettingsLevel): string {
  return level === 'server' ? 'this server' : 'this channel';
}

/** "$0.15 / $0.60 per 1M tokens in/out", "free". */

export function formatContext(tokens: number): string {
  if (tokens >= 1_000_000) return `${(tokens / 1_000_000).toFixed(tokens % 1_000_000 === 0 ? 0 : 1)}M`;
  if (tokens >= 1000) return `${Math.round(tokens / 1000)}k`;
  return String(tokens);
}
