/**
 * Text going to and coming from Slack. Models write standard Markdown; Slack's
 * `text` and section blocks read mrkdwn, where only `&`, `<` and `>` are
 * special and `<...>` sequences are links and mentions. Everything a model
 * writes is escaped, so nothing it says can notify @channel, @here, @everyone,
 * a user group or a user.
 */

/** U+2060 WORD JOINER: keeps `@here` readable while no client treats it as a mention. */
const JOINER = '\u2060';

const BROADCAST = /(^|[^\w@])@(here|channel|everyone)\b/gi;

/** Escapes the three characters mrkdwn treats specially. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Breaks bare `@here`, `@channel` and `@everyone` so they stay plain words. */
export function defuseBroadcasts(text: string): string {
  return text.replace(BROADCAST, (_m, before: string, word: string) => `${before}@${JOINER}${word}`);
}

/**
 * For standard-Markdown fields (`markdown_text` of the streaming methods), which
 * are not escaped: turns Slack's mention sequences into plain words.
 */
export function neutralizeMentions(text: string): string {
  const out = text
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/gi, (_m, word: string) => `@${JOINER}${word}`)
    .replace(/<!subteam\^[^|>]*(?:\|@?([^>]*))?>/gi, (_m, label?: string) => `@${JOINER}${label || 'group'}`)
    .replace(/<@([UW][A-Z0-9]+)(?:\|([^>]*))?>/gi, (_m, id: string, label?: string) => `@${JOINER}${label || id}`)
    .replace(/<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>/gi, (_m, word: string, label?: string) => label || word);
  return defuseBroadcasts(out);
}

/**
 * How much of a streamed text may be sent now: a trailing `<...` or `@her`
 * might still become a mention once the next delta arrives, so it is held back.
 */
export function safeStreamPrefixLength(text: string): number {
  let cut = text.length;
  const open = text.lastIndexOf('<');
  if (open >= 0 && !text.includes('>', open) && text.length - open <= 64) cut = open;
  const at = /@[a-z]{0,8}$/i.exec(text.slice(0, cut));
  if (at) cut = at.index;
  return cut;
}

const CODE_FENCE = /^\s*(```|~~~)/;

/** Converts the model's Markdown to Slack mrkdwn. Code keeps its content; everything is escaped. */
export function markdownToMrkdwn(markdown: string): string {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of lines) {
    const fenceMatch = CODE_FENCE.exec(line);
    if (fence !== undefined) {
      if (fenceMatch && fenceMatch[1] === fence && line.trim() === fence) {
        out.push('```');
        fence = undefined;
      } else {
        out.push(escapeMrkdwn(line));
      }
      continue;
    }
    if (fenceMatch) {
      // Slack shows a language tag as code, so it is dropped.
      fence = fenceMatch[1];
      out.push('```');
      continue;
    }
    out.push(convertLine(line));
  }
  if (fence !== undefined) out.push('```');
  return out.join('\n');
}

function convertLine(line: string): string {
  const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
  if (heading) {
    const inner = convertInline((heading[1] ?? '').replace(/\*\*|__/g, ''));
    return inner === '' ? '' : `*${inner}*`;
  }
  if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) return '──────────';
  const quote = /^(\s*>\s?)+(.*)$/.exec(line);
  if (quote) return `> ${convertInline(quote[2] ?? '')}`;
  const bullet = /^(\s*)[-*+]\s+(\[[ xX]\]\s+)?(.*)$/.exec(line);
  if (bullet) {
    const indent = ' '.repeat(Math.floor((bullet[1] ?? '').replace(/\t/g, '  ').length / 2) * 4);
    const box = bullet[2] ? (/[xX]/.test(bullet[2]) ? '☑ ' : '☐ ') : '';
    return `${indent}• ${box}${convertInline(bullet[3] ?? '')}`;
  }
  const ordered = /^(\s*)(\d{1,9})[.)]\s+(.*)$/.exec(line);
  if (ordered) {
    const indent = ' '.repeat(Math.floor((ordered[1] ?? '').replace(/\t/g, '  ').length / 2) * 4);
    return `${indent}${ordered[2]}. ${convertInline(ordered[3] ?? '')}`;
  }
  return convertInline(line);
}

/** Private-use characters marking held-back pieces and bold while converting. */
const SLOT = '\uE000';
const BOLD = '\uE001';

const SAFE_URL = /^(https?:\/\/|mailto:)[^\s<>|]+$/i;

/** Inline Markdown (code, links, emphasis) to mrkdwn, escaping the rest. */
function convertInline(text: string): string {
  const slots: string[] = [];
  const hold = (value: string) => `${SLOT}${slots.push(value) - 1}${SLOT}`;
  let work = text.replaceAll(SLOT, '').replaceAll(BOLD, '');

  // Inline code: content escaped, never formatted.
  work = work.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) => hold(`\`${escapeMrkdwn(code)}\``));
  // Images and links.
  work = work.replace(/!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, (_m, label: string, url: string) => hold(link(url, label)));
  // Autolinks <https://...>.
  work = work.replace(/<((?:https?:\/\/|mailto:)[^\s<>]+)>/gi, (_m, url: string) => hold(link(url, '')));

  work = escapeMrkdwn(work);
  work = defuseBroadcasts(work);

  work = work
    .replace(/\*\*\*(?=\S)([\s\S]*?\S)\*\*\*/g, `${BOLD}_$1_${BOLD}`)
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, `${BOLD}$1${BOLD}`)
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, `$1${BOLD}$2${BOLD}`)
    .replace(/(^|[^\w*])\*(?=[^\s*])([^*]*?[^\s*])\*(?![\w*])/g, '$1_$2_')
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '~$1~')
    .replace(new RegExp(BOLD, 'g'), '*');

  return work.replace(new RegExp(`${SLOT}(\\d+)${SLOT}`, 'g'), (_m, index: string) => slots[Number(index)] ?? '');
}

function link(url: string, label: string): string {
  const text = label.trim();
  if (!SAFE_URL.test(url)) return escapeMrkdwn(text === '' ? url : `${text} (${url})`);
  const target = url.replace(/&amp;/g, '&').replace(/&/g, '&amp;');
  if (text === '' || text === url) return `<${target}>`;
  // Inside a link label `|` and `>` would end it early.
  const shown = escapeMrkdwn(text.replace(/\|/g, '/')).replace(/\*\*|__/g, '');
  return `<${target}|${shown}>`;
}

/**
 * Slack's message text (mrkdwn with mentions and links) to plain text for the
 * model: `<@U1>` becomes `@Name`, links become their label and address.
 */
export function slackTextToPlain(text: string, nameOf: (userId: string) => string | undefined): string {
  return text
    .replace(/<@([UW][A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, label?: string) => `@${nameOf(id) ?? label ?? id}`)
    .replace(/<#([CG][A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, label?: string) => `#${label || id}`)
    .replace(/<!subteam\^[^|>]*(?:\|([^>]*))?>/g, (_m, label?: string) => label ?? '@group')
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<!([^|>]*)(?:\|([^>]*))?>/g, (_m, word: string, label?: string) => label ?? word)
    .replace(/<([^|>\s]+)\|([^>]*)>/g, (_m, url: string, label: string) => (label === url ? url : `${label} (${url})`))
    .replace(/<([^|>\s]+)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The user ids mentioned in a Slack text, in order, without repeats. */
export function mentionedUserIds(text: string): string[] {
  return [...new Set([...text.matchAll(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g)].map((m) => m[1]!))];
}
