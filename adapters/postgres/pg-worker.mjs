// The thread behind PgSyncDb (pg-sync-db.ts): owns one `pg` connection and answers the main
// thread's calls one at a time. Plain JavaScript so it runs in a worker under any loader.
//
// Protocol: the main thread posts { id, op, ... } on `port` and sleeps on `signal[0]` with
// Atomics.wait until it holds `id`; this thread posts the answer { id, ... } on `port`, then
// sets signal[0] = id and notifies. A message marked `quiet` (BEGIN) is not answered and not
// waited for: the next message runs after it, and gets its error instead if it failed.
// LISTEN notifications go to the main thread's event loop through `parentPort`.
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

const { port, signal, url, listen } = workerData;

// int8 (COUNT, SUM, BIGINT columns) and numeric as JS numbers: every integer the stores keep
// (epoch milliseconds, counters) is far below 2^53.
const types = {
  getTypeParser(oid, format) {
    if (oid === 20 || oid === 1700) return (v) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format);
  },
};

const client = new pg.Client({ connectionString: url, types });
let listener;
let broken;
client.on('error', (err) => (broken = err));

async function handle(msg) {
  if (broken) throw broken;
  switch (msg.op) {
    case 'connect': {
      await client.connect();
      if (listen.length) {
        listener = new pg.Client({ connectionString: url, types });
        listener.on('error', () => {});
        await listener.connect();
        listener.on('notification', (n) => parentPort.postMessage({ channel: n.channel, payload: n.payload ?? '' }));
        for (const ch of listen) await listener.query(`LISTEN ${ch}`);
      }
      return null;
    }
    case 'query': {
      const r = await client.query({ name: msg.name, text: msg.text, values: msg.values });
      return { rows: r.rows ?? [], rowCount: r.rowCount ?? 0 };
    }
    case 'exec': {
      await client.query(msg.text);
      return null;
    }
    case 'close': {
      await listener?.end().catch(() => {});
      await client.end().catch(() => {});
      return null;
    }
    default:
      throw new Error(`unknown op ${msg.op}`);
  }
}

/** A quiet message still running (or failed): the next message waits for it. */
let quiet;

port.on('message', (msg) => {
  const before = quiet;
  quiet = undefined;
  const run = before ? before.then(() => handle(msg)) : handle(msg);
  if (msg.quiet) {
    quiet = run.then(() => undefined);
    quiet.catch(() => {}); // reported to the next message
    return;
  }
  run.then(
    (result) => answer(msg.id, { result }),
    (err) => answer(msg.id, { error: { message: err?.message ?? String(err), code: err?.code, detail: err?.detail } }),
  );
});

function answer(id, m) {
  port.postMessage({ id, ...m });
  Atomics.store(signal, 0, id);
  Atomics.notify(signal, 0);
}
