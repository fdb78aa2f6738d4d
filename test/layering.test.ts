/**
 * The layers are held by ESLint, not by comments: each rule in
 * eslint.config.js fires on a forbidden import (linted as if the file sat in
 * that folder) and stays quiet on an allowed one.
 */
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
// The very rule objects eslint.config.js applies to the tree.
import { layering } from '../eslint.config.js';

const eslint = new ESLint({
  cwd: process.cwd(),
  // Only the layering rules, on the TypeScript parser: virtual files need no type information.
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layering],
});

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering (ESLint no-restricted-imports)', () => {
  it.each([
    ['src/core/fixture.ts', "import { Client } from 'discord.js';\nexport const c = Client;\n", 'no chat or LLM SDK in src/core'],
    ['src/core/fixture.ts', "import { App } from '@slack/bolt';\nexport const a = App;\n", 'no chat or LLM SDK in src/core'],
    ['src/core/fixture.ts', "import OpenAI from 'openai';\nexport const o = OpenAI;\n", 'no chat or LLM SDK in src/core'],
    ['src/core/fixture.ts', "import { createSlackAdapter } from '../platforms/slack/adapter.ts';\nexport const a = createSlackAdapter;\n", 'never imports a platform adapter'],
    ['src/platforms/discord/fixture.ts', "import { markdownToMrkdwn } from '../slack/mrkdwn.ts';\nexport const m = markdownToMrkdwn;\n", 'No platform imports another'],
    ['src/platforms/slack/fixture.ts', "import { createCore } from '../../core/core.ts';\nexport const c = createCore;\n", 'AdapterHost, not the Core'],
    ['src/llm/fixture.ts', "import { systemClock } from '../core/types.ts';\nexport const c = systemClock;\n", 'below the core'],
    ['src/llm/fixture.ts', "import { ToolRegistry } from '../tools/registry.ts';\nexport const r = ToolRegistry;\n", 'never imports src/tools'],
    ['src/tools/fixture.ts', "import { createPipeline } from '../core/pipeline.ts';\nexport const p = createPipeline;\n", 'below the core'],
    ['commands/fixture.ts', "import { createStore } from '../src/store/index.ts';\nexport const s = createStore;\n", 'Commands import only the core'],
  ])('%s: a forbidden import fails the lint', async (file, code, reason) => {
    const messages = await restrictedImports(file, code);
    expect(messages.length).toBe(1);
    expect(messages[0]).toContain(reason);
  });

  it.each([
    ['src/core/fixture.ts', "import type { ChatRequest } from '../llm/types.ts';\nexport type R = ChatRequest;\n"],
    ['src/platforms/discord/fixture.ts', "import type { AdapterHost } from '../../core/host.ts';\nexport type H = AdapterHost;\n"],
    ['commands/fixture.ts', "import { defineCommand } from '../src/core/commands.ts';\nexport const d = defineCommand;\n"],
  ])('%s: an allowed import passes', async (file, code) => {
    expect(await restrictedImports(file, code)).toEqual([]);
  });
});
