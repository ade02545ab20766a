/**
 * TL codec throughput against mtcute's runtime (@mtcute/tl-runtime + @mtcute/core's generated
 * readers/writers), in the same run. Figures are MB per CPU-second, best of BENCH_ROUNDS (default
 * 25) alternating 40 ms slices per side.
 *   tl.decode.X / tl.encode.X: the corpus converted to layer 227 (the layer mtcute 0.30 speaks), so
 *     both codecs read and write identical bytes.
 *   tl.encode_newest.X: ours writing the corpus in the newest layer (the handlers' objects as they
 *     are, compiled codecs) against mtcute writing its layer-227 form.
 *   tl.down.X.LAYER: ours converting the corpus from the newest layer to an older one and writing it
 *     there, against ours writing it in the newest (what a push or result to an old client costs).
 *   npm run bench -- tl
 */
import { TlBinaryReader, TlBinaryWriter } from '@mtcute/tl-runtime'
import { __tlReaderMap, __tlWriterMap } from '@mtcute/core/utils.js'
import { decode, encode, NEWEST_LAYER, registryForLayer, toLayer } from '../src/tl/index.js'
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

const DOWN_LAYERS = [198, 144]

for (const [name, obj] of Object.entries(items)) {
  const bytes = encode(toLayer(obj, LAYER) as TlObject, LAYER)
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

  const newest = encode(obj)
  const [nOurs, nTheirs] = duel(
    () => encode(obj),
    () => TlBinaryWriter.serializeObject(__tlWriterMap, theirs as never),
  )
  report({
    bench: `tl.encode_newest.${name}`,
    value: (nOurs * newest.length) / 1e6,
    unit: 'MB/s',
    baseline: `mtcute writing the layer-${LAYER} form`,
    baseline_value: nTheirs * mb,
    bytes: newest.length,
    layer: NEWEST_LAYER,
  })
  if (name === 'updates') continue
  for (const layer of DOWN_LAYERS) {
    const down = encode(toLayer(obj, layer) as TlObject, layer)
    const [cOurs, cNewest] = duel(
      () => encode(toLayer(obj, layer) as TlObject, layer),
      () => encode(obj),
    )
    report({
      bench: `tl.down.${name}.${layer}`,
      value: cOurs,
      unit: `conversions + encodings per second (newest → ${layer}, ${down.length} bytes)`,
      baseline: `encoding in the newest layer (${newest.length} bytes)`,
      baseline_value: cNewest,
      bytes: down.length,
    })
  }
}
