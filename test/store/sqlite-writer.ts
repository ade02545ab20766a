/**
 * Worker thread of concurrency.test.ts: a second "gateway" writing into the same SQLite file with its
 * own connection, truly in parallel with the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteAuthKeyStore } from '../../src/store/sqlite.js'
import { AuthKeyType } from '../../src/store/types.js'

interface Job {
  path: string
  keys: { id: string; key: string }[]
}

const job = workerData as Job
const store = new SqliteAuthKeyStore({ path: job.path })
const results: string[] = []
for (const k of job.keys) {
  try {
    results.push(
      await store.put({ id: BigInt(k.id), key: Buffer.from(k.key, 'hex'), type: AuthKeyType.perm, createdAt: 1_790_000_000 }),
    )
  } catch (e) {
    results.push(`error: ${e instanceof Error ? e.message : String(e)}`)
  }
}
await store.close()
parentPort?.postMessage(results)
