/**
 * Worker thread owning the SQLite write connection: writes (and their fsyncs, and waits for another
 * process's lock) happen here, never on the event loop. Messages arriving together are committed as
 * one batch (group commit: one fsync for all of them).
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { SqliteWriter, type WriteOp } from './sqlite-writes.js'

export interface WriterInit {
  path: string
  synchronous: 'full' | 'normal'
  busyTimeoutMs: number
}

export type ToWriter = { type: 'write'; seq: number; op: WriteOp } | { type: 'close' }
export type FromWriter =
  | { type: 'ready' }
  | { type: 'results'; seqs: number[]; results: ReturnType<SqliteWriter['applyBatch']> }
  | { type: 'fatal'; message: string }

const MAX_BATCH = 256
const port = parentPort
if (!port) throw new Error('sqlite-write-worker must run as a worker thread')
const init = workerData as WriterInit

let db: Database.Database
let writer: SqliteWriter
try {
  db = new Database(init.path)
  // Blocking waits are fine here: this thread does nothing else.
  db.pragma(`busy_timeout = ${Math.floor(init.busyTimeoutMs)}`)
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${init.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
  db.defaultSafeIntegers(true)
  writer = new SqliteWriter(db)
  port.postMessage({ type: 'ready' } satisfies FromWriter)
} catch (e) {
  port.postMessage({ type: 'fatal', message: e instanceof Error ? e.message : String(e) } satisfies FromWriter)
  process.exit(1)
}

let queue: { seq: number; op: WriteOp }[] = []
let scheduled = false

function flush(): void {
  scheduled = false
  while (queue.length > 0) {
    const batch = queue.slice(0, MAX_BATCH)
    queue = queue.slice(batch.length)
    const results = writer.applyBatch(batch.map((b) => b.op))
    port?.postMessage({ type: 'results', seqs: batch.map((b) => b.seq), results } satisfies FromWriter)
  }
}

port.on('message', (m: ToWriter) => {
  if (m.type === 'close') {
    flush()
    db.close()
    port.close()
    return
  }
  queue.push({ seq: m.seq, op: m.op })
  if (!scheduled) {
    scheduled = true
    setImmediate(flush)
  }
})
