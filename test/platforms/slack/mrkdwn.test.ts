import { describe, expect, it } from 'vitest';
import {
  defuseBroadcasts,
  escapeMrkdwn,
  markdownToMrkdwn,
  mentionedUserIds,
  neutralizeMentions,
  safeStreamPrefixLength,
  slackTextToPlain,
} from '../../../src/platforms/slack/mrkdwn.ts';
import { splitMrkdwn } from '../../../src/platforms/slack/blocks.ts';

const J = '\u2060';

describe('markdownToMrkdwn', () => {
  it('converts emphasis', () => {
    expect(markdownToMrkdwn('**bold** and __bold__')).toBe('*bold* and *bold*');
    expect(markdownToMrkdwn('*italic* and _italic_')).toBe('_italic_ and _italic_');
    expect(markdownToMrkdwn('***both***')).toBe('*_both_*');
    expect(markdownToMrkdwn('~~gone~~')).toBe('~gone~');
    expect(markdownToMrkdwn('2*3*4 and snake_case_name')).toBe('2*3*4 and snake_case_name');
  });

  it('converts links and keeps unsafe ones as text', () => {
    expect(markdownToMrkdwn('[Docs](https://example.com/a?b=1&c=2)')).toBe('<https://example.com/a?b=1&amp;c=2|Docs>');
    expect(markdownToMrkdwn('<https://example.com>')).toBe('<https://example.com>');
    expect(markdownToMrkdwn('[https://example.com](https://example.com)')).toBe('<https://example.com>');
    expect(markdownToMrkdwn('![alt](https://img.example/x.png)')).toBe('<https://img.example/x.png|alt>');
    expect(markdownToMrkdwn('[click](javascript:alert)')).toBe('click (javascript:alert)');
    expect(markdownToMrkdwn('[a|b>c](https://x.y)')).toBe('<https://x.y|a/b&gt;c>');
  });

  it('leaves code alone apart from escaping, and drops the fence language', () => {
    expect(markdownToMrkdwn('use `a **b** <c>` here')).toBe('use `a **b** &lt;c&gt;` here');
    expect(markdownToMrkdwn('```ts\nconst x = a && **b**;\n# not a heading\n```')).toBe('```\nconst x = a &amp;&amp; **b**;\n# not a heading\n```');
    expect(markdownToMrkdwn('```\nunclosed <b>')).toBe('```\nunclosed &lt;b&gt;\n```');
  });

  it('converts headings, lists, quotes and rules', () => {
    expect(markdownToMrkdwn('# Title\n## Sub **x**')).toBe('*Title*\n*Sub x*');
    expect(markdownToMrkdwn('- one\n* two\n  - nested *em*\n1. first\n2) second')).toBe('• one\n• two\n    • nested _em_\n1. first\n2. second');
    expect(markdownToMrkdwn('- [x] done\n- [ ] todo')).toBe('• ☑ done\n• ☐ todo');
    expect(markdownToMrkdwn('> quoted **text**')).toBe('> quoted *text*');
    expect(markdownToMrkdwn('---')).toBe('──────────');
  });

  it('escapes &, < and > so nothing becomes a mention or a link', () => {
    expect(markdownToMrkdwn('a & b < c > d')).toBe('a &amp; b &lt; c &gt; d');
    expect(markdownToMrkdwn('<!channel> <!here> <!everyone> <!subteam^S1|@devs> <@U123>')).toBe(
      '&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;!subteam^S1|@devs&gt; &lt;@U123&gt;',
    );
    expect(markdownToMrkdwn('hi @here and @channel, mail a@here.com')).toBe(`hi @${J}here and @${J}channel, mail a@here.com`);
  });
});

describe('mention safety for Markdown fields and streams', () => {
  it('neutralizeMentions turns Slack mention sequences into plain words', () => {
    expect(neutralizeMentions('<!channel> <!here|here> <!everyone>')).toBe(`@${J}channel @${J}here @${J}everyone`);
    expect(neutralizeMentions('<!subteam^S1|@devs> <!subteam^S2>')).toBe(`@${J}devs @${J}group`);
    expect(neutralizeMentions('<@U123> <@W9|bob>')).toBe(`@${J}U123 @${J}bob`);
    expect(neutralizeMentions('<!date^1392734382^{date}|Feb 18>')).toBe('Feb 18');
    expect(neutralizeMentions('plain @everyone')).toBe(`plain @${J}everyone`);
    expect(neutralizeMentions('a <b> c')).toBe('a <b> c');
  });

  it('holds back a tail that could still become a mention', () => {
    expect(safeStreamPrefixLength('hello <!cha')).toBe(6);
    expect(safeStreamPrefixLength('hello @he')).toBe(6);
    expect(safeStreamPrefixLength('hello <b> world')).toBe(15);
    expect(safeStreamPrefixLength('done.')).toBe(5);
  });

  it('escape helpers', () => {
    expect(escapeMrkdwn('<&>')).toBe('&lt;&amp;&gt;');
    expect(defuseBroadcasts('@here')).toBe(`@${J}here`);
  });
});

describe('Slack text to plain text', () => {
  it('resolves user mentions to names and unwraps links and entities', () => {
    const names: Record<string, string> = { U1: 'Ann' };
    expect(slackTextToPlain('<@U1> see <https://a.example|the site> or <https://b.example> &lt;3 &amp; <#C1|general> <!here>', (id) => names[id])).toBe(
      '@Ann see the site (https://a.example) or https://b.example <3 & #general @here',
    );
    expect(slackTextToPlain('<@U2|bob>', () => undefined)).toBe('@bob');
    expect(mentionedUserIds('<@U1> <@U2|x> <@U1>')).toEqual(['U1', 'U2']);
  });
});

describe('splitMrkdwn', () => {
  it('splits at line breaks and never inside an entity or a link', () => {
    const text = `${'a'.repeat(20)}\n${'b'.repeat(20)}`;
    expect(splitMrkdwn(text, 30)).toEqual(['a'.repeat(20), 'b'.repeat(20)]);
    const entity = `${'x'.repeat(28)}&amp;y`;
    for (const piece of splitMrkdwn(entity, 30)) expect(piece.length).toBeLessThanOrEqual(30);
    expect(splitMrkdwn(entity, 30).join('')).toBe(entity);
    expect(splitMrkdwn(entity, 30)[1]!.startsWith('&amp;')).toBe(true);
    const link = `${'x'.repeat(25)}<https://e.x|y>`;
    expect(splitMrkdwn(link, 30)[1]).toBe('<https://e.x|y>');
  });
});
