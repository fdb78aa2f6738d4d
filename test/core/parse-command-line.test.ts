import { describe, expect, it } from 'vitest';
import { commands } from '../../commands/index.ts';
import { parseCommandLine, tokenizeLine } from '../../src/core/parse-command-line.ts';

function ok(line: string) {
  const parsed = parseCommandLine(line, commands);
  if (!parsed.ok) throw new Error(parsed.error);
  return { name: parsed.command.name, sub: parsed.subName, options: parsed.options };
}

function error(line: string): string {
  const parsed = parseCommandLine(line, commands);
  if (parsed.ok) throw new Error(`expected an error for ${line}`);
  return parsed.error;
}

describe('parseCommandLine', () => {
  it('tokenizes quotes', () => {
    expect(tokenizeLine(`a "b c" 'd e' "f \\" g"`)).toEqual(['a', 'b c', 'd e', 'f " g']);
  });

  it('maps positional words onto options in order', () => {
    expect(ok('/model set openai/gpt-4o-mini')).toEqual({ name: 'model', sub: 'set', options: { model: 'openai/gpt-4o-mini' } });
    expect(ok('/model set openai/gpt-4o-mini server')).toEqual({
      name: 'model',
      sub: 'set',
      options: { model: 'openai/gpt-4o-mini', scope: 'server' },
    });
    expect(ok('/quota set default requests-per-day 5').options).toEqual({ target: 'default', limit: 'requests-per-day', value: '5' });
  });

  it('gives the free-text option every word the trailing options do not need', () => {
    expect(ok('/prompt set You are a terse pirate').options).toEqual({ text: 'You are a terse pirate' });
    expect(ok('/prompt set You are a terse pirate server').options).toEqual({ text: 'You are a terse pirate', scope: 'server' });
    expect(ok('/model fallbacks a/b c/d channel').options).toEqual({ models: 'a/b c/d', scope: 'channel' });
    expect(ok('/ask what is 2 + 2?').options).toEqual({ prompt: 'what is 2 + 2?' });
  });

  it('takes --name value and boolean flags', () => {
    expect(ok('/ask --model openai/gpt-4o hello there').options).toEqual({ model: 'openai/gpt-4o', prompt: 'hello there' });
    expect(ok('/models llama --free').options).toEqual({ search: 'llama', free: true });
    expect(ok('/models --free').options).toEqual({ free: true });
  });

  it('defaults to show or list for bare commands with subcommands', () => {
    expect(ok('/model').sub).toBe('show');
    expect(ok('/tools').sub).toBe('list');
  });

  it('explains unknown commands, subcommands and options', () => {
    expect(error('/frobnicate')).toMatch(/Unknown command `\/frobnicate`.*\/ask/);
    expect(error('/model fly')).toMatch(/has no `fly`; use one of: show, set/);
    expect(ok('/quota').sub).toBe('show');
    expect(error('/models --nope 1')).toMatch(/unknown option `--nope`/);
    expect(error('/new now please')).toMatch(/too many words/);
    expect(error('/')).toMatch(/Type a command/);
  });
});
