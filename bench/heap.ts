/**
 * `npm run bench -- heap`: where mtgate's JS heap goes per idle authorised connection. Starts
 * `mtgate serve` as the peers bench does (bench/peers/mtgate.ts, with its probe), makes HEAP_KEYS
 * (default 100) auth keys by real exchanges (bench/peers/load.ts), writes a heap snapshot of the
 * server after forced GCs, opens HEAP_CONNS (default 5,000) TCP intermediate connections that each
 * answer one encrypted ping and stay idle (bench/ping-load.ts), and writes a second snapshot.
 *
 * The snapshots are compared by constructor (objects by their constructor's name, closures as
 * `closure NAME`, strings, arrays and V8-internal objects by their snapshot type and name): the
 * self size added per connection and the objects added per connection. The top HEAP_TOP (default
 * 15) go to stderr; stdout gets one figure, heap.per_conn (the self sizes added, summed, per
 * connection), with the heapUsed difference per connection beside it.
 * Env: HEAP_CONNS, HEAP_KEYS, HEAP_TOP, HEAP_KEEP=1 keeps the snapshot files (their paths are logged).
 */
import { createPrivateKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RsaPrivateKey } from '../src/handshake/rsa-key.js'
import { askHandshakes, spawnHandshakes, type HsAnswer } from './peers/load.js'
import { mtgate } from './peers/mtgate.js'
import { ask, spawnClient, stopClient } from './ping-load.js'
import { report } from './report.js'

const env = process.env
const CONNS = Number(env.HEAP_CONNS ?? 5000)
const KEYS = Number(env.HEAP_KEYS ?? 100)
const TOP = Number(env.HEAP_TOP ?? 15)
const KEEP = env.HEAP_KEEP === '1'

const log = (msg: string): void => void process.stderr.write(`[bench heap] ${msg}\n`)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Group {
  bytes: number
  count: number
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

/** Self size and object count per constructor in a .heapsnapshot file. */
export function summarize(path: string): Map<string, Group> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot
  const fields = s.snapshot.meta.node_fields
  const types = s.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const out = new Map<string, Group>()
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!]!
    const size = s.nodes[i + sizeAt]!
    if (size === 0) continue
    const key = groupOf(type, s.strings[s.nodes[i + nameAt]!]!)
    const g = out.get(key)
    if (g === undefined) out.set(key, { bytes: size, count: 1 })
    else {
      g.bytes += size
      g.count++
    }
  }
  return out
}

function groupOf(type: string, name: string): string {
  switch (type) {
    case 'object':
    case 'native':
      return name.length > 60 ? `${name.slice(0, 57)}...` : name
    case 'closure':
      return `closure ${name || '(anonymous)'}`
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)'
    case 'code':
      return '(code)'
    case 'number':
      return '(heap number)'
    case 'hidden':
    case 'array':
    case 'object shape':
      return `(${type}) ${name.replace(/ \/ .*$/, '')}`
    default:
      return `(${type})`
  }
}

async function main(): Promise<void> {
  const key = RsaPrivateKey.generate()
  const pem = createPrivateKey(key.toPem()).export({ type: 'pkcs1', format: 'pem' }).toString()
  const workDir = mkdtempSync(join(tmpdir(), 'mtgate-bench-heap-'))
  const snapDir = KEEP ? mkdtempSync(join(tmpdir(), 'mtgate-heap-snapshots-')) : workDir
  try {
    const p = await mtgate.start({ privateKeyPem: pem, workDir })
    let before: Map<string, Group>
    let after: Map<string, Group>
    let heapBefore: number
    let heapAfter: number
    try {
      const target = { host: p.host, port: p.port, dc: p.dc, publicPem: key.publicKey.toPem() }
      const gen = spawnHandshakes()
      let keys: string[]
      try {
        keys = (await askHandshakes<Extract<HsAnswer, { ok: 'keys' }>>(gen, { cmd: 'keys', target, n: KEYS, concurrency: 8 })).keys
      } finally {
        gen.kill()
      }
      await sleep(1000) // the exchanges' connections close
      const snap1 = join(snapDir, 'before.heapsnapshot')
      heapBefore = await p.heapSnapshot!(snap1)
      before = summarize(snap1)
      log(`before: ${snap1}`)
      const child = spawnClient()
      try {
        const sessionKeys = Array.from({ length: CONNS }, (_, i) => keys[i % keys.length]!)
        await ask(child, { cmd: 'connect', keys: sessionKeys, host: p.host, port: p.port, window: 1 }, 600_000)
        await sleep(2000)
        const snap2 = join(snapDir, 'after.heapsnapshot')
        heapAfter = await p.heapSnapshot!(snap2)
        after = summarize(snap2)
        log(`after ${CONNS} connections: ${snap2}`)
      } finally {
        await stopClient(child)
      }
    } finally {
      await p.stop()
    }
    const rows: Array<{ name: string; bytes: number; count: number }> = []
    for (const [name, a] of after) {
      const b = before.get(name) ?? { bytes: 0, count: 0 }
      rows.push({ name, bytes: (a.bytes - b.bytes) / CONNS, count: (a.count - b.count) / CONNS })
    }
    for (const [name, b] of before) if (!after.has(name)) rows.push({ name, bytes: -b.bytes / CONNS, count: -b.count / CONNS })
    rows.sort((x, y) => y.bytes - x.bytes)
    const total = rows.reduce((s, r) => s + r.bytes, 0)
    log(`per connection, by constructor (self size added; objects added):`)
    for (const r of rows.slice(0, TOP)) log(`  ${r.bytes.toFixed(1).padStart(8)} B  ${r.count.toFixed(2).padStart(6)}  ${r.name}`)
    log(`  ${total.toFixed(1).padStart(8)} B  total`)
    report({
      bench: 'heap.per_conn',
      value: total,
      unit: 'bytes/conn (heap snapshot self sizes)',
      better: 'lower',
      conns: CONNS,
      heap_used_per_conn: Math.round((heapAfter - heapBefore) / CONNS),
      goal: 4096,
      top: Object.fromEntries(rows.slice(0, TOP).map((r) => [r.name, Math.round(r.bytes)])),
    })
  } finally {
    rmSync(workDir, { recursive: true, force: true })
  }
}

await main()
