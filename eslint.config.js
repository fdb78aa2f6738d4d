import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const SDKS = ['discord.js', '@discordjs/*', '@slack/*', 'openai', 'openai/*'];
const BELOW_CORE = [
  { group: ['discord.js', '@discordjs/*', '@slack/*'], message: 'Only platform adapters use a chat SDK.' },
  { group: ['**/platforms/**', '**/core/**'], message: 'llm, tools and store sit below the core.' },
];
const restrict = (files, patterns, ignores = []) => ({
  files,
  ignores,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

/** Who may import whom. */
export const layering = [
  restrict(['src/core/**/*.ts'], [
    { group: SDKS, message: 'The core is platform-neutral: no chat or LLM SDK in src/core.' },
    { group: ['**/platforms/**'], message: 'The core never imports a platform adapter.' },
  ]),
  // One entry per folder: a later entry for the same files would replace this rule's patterns, not add to them.
  restrict(['src/llm/**/*.ts'], [
    ...BELOW_CORE,
    { group: ['**/tools/**'], message: 'llm runs tools through ToolSource (llm/tool-types.ts); it never imports src/tools.' },
  ]),
  restrict(['src/tools/**/*.ts'], [
    ...BELOW_CORE,
    { group: ['**/llm/openrouter.ts', '**/llm/tool-runner.ts', 'openai', 'openai/*'], message: 'Tools know the LLM types only, not the client.' },
  ]),
  restrict(['src/store/**/*.ts'], BELOW_CORE),
  restrict(['src/util/**/*.ts'], [{ group: ['../*'], message: 'src/util imports nothing of ours.' }]),
  restrict(['src/platforms/discord/**/*.ts'], [
    { group: ['**/platforms/slack/**', '**/platforms/console/**', '../slack/*', '../console/*', '@slack/*'], message: 'No platform imports another.' },
    { group: ['**/core/core.ts'], message: 'Adapters see the AdapterHost, not the Core.' },
  ], ['src/platforms/discord/deploy-commands.ts']),
  restrict(['src/platforms/slack/**/*.ts'], [
    { group: ['**/platforms/discord/**', '**/platforms/console/**', '../discord/*', '../console/*', 'discord.js', '@discordjs/*'], message: 'No platform imports another.' },
    { group: ['**/core/core.ts'], message: 'Adapters see the AdapterHost, not the Core.' },
  ], ['src/platforms/slack/manifest.ts']),
  restrict(['src/platforms/console/**/*.ts'], [
    { group: ['**/platforms/discord/**', '**/platforms/slack/**', '../discord/*', '../slack/*', ...SDKS], message: 'No platform imports another.' },
    { group: ['**/core/core.ts'], message: 'Adapters see the AdapterHost, not the Core.' },
  ], ['src/platforms/console/main.ts']),
  restrict(['commands/**/*.ts'], [
    { group: ['../src/*', '!../src/core'], message: 'Commands import only the core (src/core).' },
    { group: SDKS, message: 'Commands are platform-neutral.' },
  ]),
];

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'coverage', 'bench/results.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      'no-console': 'error',
    },
  },
  // The layers, enforced (see docs/ARCHITECTURE.md); test/layering.test.ts proves each rule fires.
  ...layering,
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['src/platforms/console/**', 'bench/**', 'scripts/**', 'examples/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
