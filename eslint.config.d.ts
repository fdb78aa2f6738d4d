import type { Linter } from 'eslint';

/** The layering rules (who may import whom), exported for test/layering.test.ts. */
export declare const layering: Linter.Config[];
declare const config: Linter.Config[];
export default config;
