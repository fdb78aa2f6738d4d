/**
 * Turns a typed command line (`/model set openai/gpt-4o server`) into a command,
 * subcommand and raw options, for the terminal and for Slack's single text field.
 */
import { describeOptions, type CommandDefinition, type OptionInfo } from './commands.ts';

export type ParsedLine =
  | { ok: true; command: CommandDefinition; subName?: string; options: Record<string, unknown> }
  | { ok: false; error: string };

/** Splits on white space, keeping "quoted strings" together. */
export function tokenizeLine(text: string): string[] {
  const tokens: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of text.matchAll(pattern)) {
    tokens.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? match[3] ?? ''));
  }
  return tokens;
}

function convert(option: OptionInfo, raw: string): unknown {
  if (option.kind === 'integer' || option.kind === 'number') {
    const n = Number(raw);
    return raw.trim() === '' || Number.isNaN(n) ? raw : n;
  }
  if (option.kind === 'boolean') {
    if (/^(true|yes|on|1)$/i.test(raw)) return true;
    if (/^(false|no|off|0)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}

const isFreeText = (o: OptionInfo) => o.kind === 'string' && !o.choices;

/**
 * Assigns positional words to options in order. The first free-text option is
 * greedy: it takes every word not needed by the options after it, so
 * `/prompt set You are terse server` gives text "You are terse", scope "server".
 * `--name value` (or `--flag` for booleans) sets an option by name.
 */
export function assignOptions(options: OptionInfo[], words: string[]): { values: Record<string, unknown>; error?: string } {
  const values: Record<string, unknown> = {};
  const positional: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const named = /^--([a-zA-Z][\w-]*)$/.exec(word);
    if (named) {
      const option = options.find((o) => o.name === named[1]);
      if (!option) return { values, error: `unknown option \`--${named[1]}\`` };
      const next = words[i + 1];
      if (option.kind === 'boolean' && (next === undefined || !/^(true|false|yes|no|on|off|1|0)$/i.test(next))) {
        values[option.name] = true;
      } else {
        if (next === undefined) return { values, error: `\`--${option.name}\` needs a value` };
        values[option.name] = convert(option, next);
        i++;
      }
      continue;
    }
    positional.push(word);
  }

  const open = options.filter((o) => !(o.name in values));
  const greedyIndex = open.findIndex(isFreeText);
  let words2 = positional;
  if (greedyIndex >= 0) {
    const before = open.slice(0, greedyIndex);
    const after = open.slice(greedyIndex + 1);
    for (const option of before) {
      const word = words2[0];
      if (word === undefined) break;
      values[option.name] = convert(option, word);
      words2 = words2.slice(1);
    }
    // Trailing options take words from the end when they are required or the word fits their choices.
    const tail: Array<[OptionInfo, string]> = [];
    let end = words2.length;
    for (let i = after.length - 1; i >= 0 && end > 1; i--) {
      const option = after[i]!;
      const word = words2[end - 1]!;
      const fits = option.choices ? option.choices.includes(word) : option.required;
      if (!fits) continue;
      tail.unshift([option, word]);
      end--;
    }
    const greedy = open[greedyIndex]!;
    if (end > 0) values[greedy.name] = words2.slice(0, end).join(' ');
    for (const [option, word] of tail) values[option.name] = convert(option, word);
    return { values };
  }
  for (const [i, option] of open.entries()) {
    const word = words2[i];
    if (word !== undefined) values[option.name] = convert(option, word);
  }
  if (words2.length > open.length) {
    return { values, error: `too many words: \`${words2.slice(open.length).join(' ')}\`` };
  }
  return { values };
}

export function parseCommandLine(line: string, commands: readonly CommandDefinition[]): ParsedLine {
  const text = line.trim().replace(/^\//, '');
  const [name, ...rest] = tokenizeLine(text);
  if (!name) return { ok: false, error: 'Type a command after the slash, e.g. `/models`.' };
  const command = commands.find((c) => c.name === name.toLowerCase());
  if (!command) {
    return { ok: false, error: `Unknown command \`/${name}\`. Commands: ${commands.map((c) => `/${c.name}`).join(', ')}.` };
  }
  let words = rest;
  let subName: string | undefined;
  let schema = command.options;
  if (command.subcommands) {
    const candidate = words[0]?.toLowerCase();
    if (candidate && candidate in command.subcommands) {
      subName = candidate;
      words = words.slice(1);
    } else if (candidate === undefined && 'show' in command.subcommands) {
      subName = 'show';
    } else if (candidate === undefined && 'list' in command.subcommands) {
      subName = 'list';
    } else {
      const names = Object.keys(command.subcommands).join(', ');
      return {
        ok: false,
        error: candidate ? `\`/${command.name}\` has no \`${candidate}\`; use one of: ${names}.` : `\`/${command.name}\` needs one of: ${names}.`,
      };
    }
    schema = command.subcommands[subName]!.options;
  }
  const { values, error } = assignOptions(describeOptions(schema), words);
  if (error) return { ok: false, error: `${error}.` };
  return { ok: true, command, subName, options: values };
}
