import { postgresTestUrl } from '../helpers/postgres.ts';
import { postgresDatabase } from './harness.ts';
import { describeFeedbackContract } from './feedback-contract.ts';
import { describeStoreContract } from './store-contract.ts';
import { describe, it } from 'vitest';

const url = postgresTestUrl('the store contract suite');

if (url === undefined) {
  describe.skip('Store contract: postgres (set TEST_DATABASE_URL to run)', () => {
    it('needs TEST_DATABASE_URL', () => undefined);
  });
} else {
  describeStoreContract('postgres', postgresDatabase(url));
  describeFeedbackContract('postgres', postgresDatabase(url));
}
