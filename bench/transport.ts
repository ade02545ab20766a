/**
 * transport.frames: framing + obfuscation throughput for 1 KB payloads, MB/s of payload, one
 * encode (client codec: frame + AES-256-CTR) and one decode (server codec: AES-256-CTR + deframe)
 * per frame — both halves of the per-frame transport work.
 * Baseline, measured in the same run on the same bytes: raw AES-256-CTR from node:crypto, two
 * passes (encrypt + decrypt) — the obfuscation cost alone; ratio = ours / baseline.
 * The machine is shared, so candidate and baseline run in alternating short rounds and each
 * figure is the median of its rounds (rounds and spread are reported).
 */
import { createCipheriv, randomBytes } from 'node:crypto'
import { createCodec } from '../src/transport/create-codec.js'
import { acceptObfuscatedInit, createObfuscatedClient } from '../src/transport/obfuscated.js'
import { opsPerSec, report } from './report.js'

const SIZE = 1024
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9)
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 250)
const payload = randomBytes(SIZE)

type Step = () => void

function ctrBaseline(): Step {
  const key = randomBytes(32)
  const iv = randomBytes(16)
  const enc = createCipheriv('aes-256-ctr', key, iv)
  const dec = createCipheriv('aes-256-ctr', key, iv)
  return () => {
    dec.update(enc.update(payload))
  }
}

function obfuscated(codec: 'abridged' | 'intermediate' | 'padded'): Step {
  const client = createObfuscatedClient({ codec, maxFrameSize: 1 << 20 })
  const server = acceptObfuscatedInit(client.init, { codec: { maxFrameSize: 1 << 20 } }).codec
  return () => {
    if (server.push(client.codec.encodePacket(payload)).length !== 1) throw new Error('frame lost')
  }
}

function plain(codec: 'abridged' | 'intermediate' | 'padded' | 'full'): Step {
  const client = createCodec(codec, { side: 'client', maxFrameSize: 1 << 20 })
  const server = createCodec(codec, { side: 'server', maxFrameSize: 1 << 20 })
  return () => {
    if (server.push(client.encodePacket(payload)).length !== 1) throw new Error('frame lost')
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Alternating rounds of candidate and baseline; medians in MB/s of payload. */
function compare(candidate: Step, baseline: Step): { value: number; base: number; spread: [number, number] } {
  const a: number[] = []
  const b: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    a.push((opsPerSec(candidate, ROUND_MS) * SIZE) / 1e6)
    b.push((opsPerSec(baseline, ROUND_MS) * SIZE) / 1e6)
  }
  return { value: median(a), base: median(b), spread: [Math.min(...a), Math.max(...a)] }
}

const BASELINE = 'node:crypto aes-256-ctr encrypt+decrypt, same 1 KB buffers, alternating rounds'
const base = ctrBaseline()

const main = compare(obfuscated('intermediate'), base)
report({
  bench: 'transport.frames',
  value: main.value,
  unit: 'MB/s',
  baseline: BASELINE,
  baseline_value: main.base,
  frame_bytes: SIZE,
  codec: 'obfuscated intermediate',
  rounds: ROUNDS,
  min: Math.round(main.spread[0]),
  max: Math.round(main.spread[1]),
})
for (const c of ['abridged', 'padded'] as const) {
  const r = compare(obfuscated(c), base)
  report({ bench: `transport.frames.obfuscated_${c}`, value: r.value, unit: 'MB/s', baseline: BASELINE, baseline_value: r.base, frame_bytes: SIZE })
}
for (const c of ['abridged', 'intermediate', 'full'] as const) {
  const r = compare(plain(c), base)
  report({ bench: `transport.frames.plain_${c}`, value: r.value, unit: 'MB/s', baseline: BASELINE, baseline_value: r.base, frame_bytes: SIZE })
}
