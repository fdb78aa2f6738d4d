/**
 * The PostgreSQL the tests may use. Without TEST_DATABASE_URL the PostgreSQL
 * tests are skipped with a notice; with REQUIRE_POSTGRES_TESTS=1 (CI) a missing
 * URL fails the run instead of skipping silently.
 */
export function postgresTestUrl(suite: string): string | undefined {
  const url = process.env.TEST_DATABASE_URL?.trim() || undefined;
  if (url) return url;
  if (process.env.REQUIRE_POSTGRES_TESTS === '1') {
    throw new Error(`REQUIRE_POSTGRES_TESTS=1 but TEST_DATABASE_URL is not set: cannot run ${suite}`);
  }
  // eslint-disable-next-line no-console -- the skip must be visible in the test output
  console.warn(`TEST_DATABASE_URL is not set: skipping ${suite} on PostgreSQL.`);
  return undefined;
}
