import { describe, it } from 'vitest';
import { postgresDatabase } from './harness.ts';
import { describeStoreContract } from './store-contract.ts';

const url = process.env.TEST_DATABASE_URL;

if ((url === undefined || url === '') && process.env.REQUIRE_POSTGRES_TESTS === '1') {
  describe('Store contract: postgres', () => {
    it('runs because CI requires it (REQUIRE_POSTGRES_TESTS=1)', () => {
      throw new Error('REQUIRE_POSTGRES_TESTS=1 but TEST_DATABASE_URL is not set');
    });
  });
} else if (url === undefined || url === '') {
  // eslint-disable-next-line no-console -- the skip must be visible in the test output
  console.warn('TEST_DATABASE_URL is not set: skipping the PostgreSQL store contract suite.');
  describe.skip('Store contract: postgres (set TEST_DATABASE_URL to run)', () => {
    it('needs TEST_DATABASE_URL', () => undefined);
  });
} else {
  describeStoreContract('postgres', postgresDatabase(url));
}
