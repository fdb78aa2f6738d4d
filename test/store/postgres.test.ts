import { postgresTestUrl } from '../helpers/postgres.ts';
import { postgresDatabase } from './harness.ts';
import { describeFeedbackContract } from './feedback-contract.ts';
import { describeStoreContract } from './store-contract.ts';
import { describe } from 'vitest';

const url = postgresTestUrl('the store contract suite');

// Without TEST_DATABASE_URL the suites are reported as skipped (REQUIRE_POSTGRES_TESTS=1 makes that a failure instead).
describe.skipIf(url === undefined)('PostgreSQL (TEST_DATABASE_URL)', () => {
  describeStoreContract('postgres', postgresDatabase(url!));
  describeFeedbackContract('postgres', postgresDatabase(url!));
});
