/**
 * TL codec throughput against mtcute's runtime (@mtcute/tl-runtime + @mtcute/core's generated
 * readers/writers) on the same bytes, in the same run. The corpus is encoded in layer 227 (the layer
 * mtcute 0.30 speaks) so both codecs read identical input. Figures are MB per CPU-second, best of
 * BENCH_ROUNDS (default 25) alternating 40 ms slices per side.
 *   npm run bench -- tl
 */
import { TlBinaryReader, TlBinaryWriter } from '@mtcute/tl-runtime'
import { __tlReaderMap, __tlWriterMap } from '@mtcute/core/utils.js'
import { decode, encode, registryForLayer } from '../src/tl/index.js'
import type { TlObject } from '../src/tl/index.js'
import { config, messagesMessages, updatesBurst } from '../test/tl/corpus.js'
import { report } from './report.js'

const LAYER = 227
const reg = registryForLayer(LAYER)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25)
const SLICE_MS = 40

/**
 * Operations per CPU-second of `fn` over one short slice. CPU time (not wall time) because the
 * benchmark machine is shared: preemption by other processes would otherwise dominate the figures.
 */
function slice(fn: () => unknown): number {
  const c0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const limit = BigInt(SLICE_MS * 1e6)
  let n = 0
  while (process.hrtime.bigint() - t0 < limit) {
    for (let i = 0; i < 4; i++) fn()
    n += 4
  }
  const c = process.cpuUsage(c0)
  return n / ((c.user + c.system) / 1e6)
}

/** Alternates ours and theirs for ROUNDS slices each and keeps the best of each (ops per second). */
function duel(ours: () => unknown, theirs: () => unknown): [number, number] {
  for (let i = 0; i < 5; i++) {
    slice(ours)
    slice(theirs)
  }
  let a = 0
  let b = 0
  for (let r = 0; r < ROUNDS; r++) {
    a = Math.max(a, slice(ours))
    b = Math.max(b, slice(theirs))
  }
  return [a, b]
}

const items: Record<string, TlObject> = {
  messages: messagesMessages(100, 50),
  config: config(),
  updates: updatesBurst(30),
}

for (const [name, obj] of Object.entries(items)) {
  const bytes = encode(obj, LAYER)
  const ours = decode(bytes, { registry: reg })
  const theirs = TlBinaryReader.deserializeObject(__tlReaderMap, bytes) as { _: string }
  const theirBytes = Buffer.from(TlBinaryWriter.serializeObject(__tlWriterMap, theirs as never))
  if (!theirBytes.equals(bytes)) throw new Error(`${name}: mtcute re-encodes differently; corpus not comparable`)
  if (!encode(ours, LAYER).equals(bytes)) throw new Error(`${name}: our re-encoding differs`)
  process.stderr.write(`tl bench ${name}: ${bytes.length} bytes\n`)
  const mb = bytes.length / 1e6

  const [dOurs, dTheirs] = duel(
    () => decode(bytes, { registry: reg }),
    () => TlBinaryReader.deserializeObject(__tlReaderMap, bytes),
  )
  report({ bench: `tl.decode.${name}`, value: dOurs * mb, unit: 'MB/s', baseline: 'mtcute', baseline_value: dTheirs * mb, bytes: bytes.length })

  const [eOurs, eTheirs] = duel(
    () => encode(ours, LAYER),
    () => TlBinaryWriter.serializeObject(__tlWriterMap, theirs as never),
  )
  report({ bench: `tl.encode.${name}`, value: eOurs * mb, unit: 'MB/s', baseline: 'mtcute', baseline_value: eTheirs * mb, bytes: bytes.length })
}
