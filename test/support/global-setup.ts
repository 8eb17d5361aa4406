import { startPostgres } from './postgres-server.js';

/** One PostgreSQL server for the whole run (unless CUBBY_TEST_PG_URL names one already). */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.CUBBY_TEST_PG_URL) return async () => {};
  const server = await startPostgres();
  process.env.CUBBY_TEST_PG_URL = server.url;
  return () => server.stop();
}
