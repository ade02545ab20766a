/**
 * Fuzz: every codec (server and client side, plain and obfuscated), transport detection and the
 * obfuscated init parser get valid, mutated and random streams split at random chunk
 * boundaries. Allowed outcomes: frames, or a FramingError. Never another exception, never more
 * buffered than one maximal frame plus header and padding. 120k cases, seeded, a few seconds.
 * Then a share of the bench's framer and obfuscation targets (test/helpers/fuzz-targets.ts;
 * `npm run bench -- fuzz` runs 1M inputs of each).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Codec, CodecName, Side } from '../../src/transport/codec.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { detectTransport } from '../../src/transport/detect.js'
import { FramingError } from '../../src/transport/errors.js'
import { acceptObfuscatedInit, createObfuscatedClient } from '../../src/transport/obfuscated.js'
import { crashReport, framerTarget, fuzzRun, mutateWire as mutate, obfuscationTarget, Prng, splitRandom } from '../helpers/fuzz-targets.js'

const MAX = 2048
const CASES = 10_000

type Make = (rng: Prng) => { sender: Codec; receiver: Codec }

function plain(name: CodecName, receiverSide: Side): Make {
  const senderSide: Side = receiverSide === 'server' ? 'client' : 'server'
  return (rng) => ({
    sender: createCodec(name, { side: senderSide, maxFrameSize: 1 << 20, random: rng.source() }),
    receiver: createCodec(name, { side: receiverSide, maxFrameSize: MAX, random: rng.source() }),
  })
}

function obfuscated(name: Exclude<CodecName, 'full'>): Make {
  return (rng) => {
    const cl = createObfuscatedClient({ codec: name, maxFrameSize: 1 << 20, random: rng.source() })
    const sv = acceptObfuscatedInit(cl.init, { codec: { maxFrameSize: MAX, random: rng.source() } })
    return { sender: cl.codec, receiver: sv.codec }
  }
}

/** Runs CASES cases against one target; returns how many ran to the end. */
function runTarget(label: string, make: Make, seed: number): number {
  const rng = new Prng(seed)
  let ran = 0
  let clean = 0
  let rejected = 0
  for (let i = 0; i < CASES; i++) {
    const { sender, receiver } = make(rng)
    const n = 1 + rng.int(4)
    const sent: Buffer[] = []
    for (let k = 0; k < n; k++) sent.push(rng.bytes(4 * (1 + rng.int(64))))
    const wire = Buffer.concat(sent.map((p) => sender.encodePacket(p, rng.int(2) === 1)))
    const mutated = rng.int(4) !== 0
    const input = mutated ? mutate(wire, rng) : wire
    let frames = 0
    try {
      for (const c of splitRandom(input, rng, 1 + rng.int(128))) {
        frames += receiver.push(c).length
        assert.ok(receiver.buffered <= MAX + 19, `${label}: buffered ${receiver.buffered}`)
      }
      if (!mutated) {
        assert.equal(frames, n, `${label}: clean stream decodes fully`)
        clean++
      }
    } catch (e) {
      if (!(e instanceof FramingError)) throw e
      assert.ok(mutated, `${label}: clean stream rejected: ${e.message}`)
      rejected++
    }
    ran++
  }
  assert.ok(clean > CASES / 8, `${label}: enough clean cases`)
  assert.ok(rejected > 0, `${label}: mutations are detected at least sometimes`)
  return ran
}

describe('fuzz', () => {
  const targets: Array<[string, Make]> = [
    ['abridged server', plain('abridged', 'server')],
    ['abridged client', plain('abridged', 'client')],
    ['intermediate server', plain('intermediate', 'server')],
    ['intermediate client', plain('intermediate', 'client')],
    ['padded server', plain('padded', 'server')],
    ['padded client', plain('padded', 'client')],
    ['full server', plain('full', 'server')],
    ['full client', plain('full', 'client')],
    ['obfuscated abridged', obfuscated('abridged')],
    ['obfuscated intermediate', obfuscated('intermediate')],
    ['obfuscated padded', obfuscated('padded')],
  ]
  targets.forEach(([label, make], i) => {
    it(label, () => assert.equal(runTarget(label, make, 1000 + i), CASES, `${label}: every case ran`))
  })

  it('detection and obfuscated init parsing on random and near-miss heads', () => {
    const rng = new Prng(99)
    let ran = 0
    const prefixes = [[0xef], [0xee, 0xee, 0xee, 0xee], [0xdd, 0xdd, 0xdd, 0xdd], [0x10, 0, 0, 0, 0, 0, 0, 0], [], [0x50, 0x4f, 0x53, 0x54]]
    for (let i = 0; i < CASES; i++) {
      const head = Buffer.concat([Buffer.from(prefixes[rng.int(prefixes.length)]!), rng.bytes(rng.int(80))])
      const d = detectTransport(head, { maxFrameSize: MAX })
      if (d.kind === 'obfuscated') {
        try {
          acceptObfuscatedInit(head.subarray(0, 64), { codec: { maxFrameSize: MAX }, secrets: [rng.bytes(16)] })
        } catch (e) {
          if (!(e instanceof FramingError)) throw e
        }
      }
      ran++
    }
    assert.equal(ran, CASES, 'every case ran')
  })

  it('framer target (every server codec in random chunks + detection): 20k inputs, 0 crashes', () => {
    const crashes = fuzzRun(framerTarget, 0xf4a3e, 20_000)
    assert.equal(crashes.length, 0, crashReport(crashes))
  })

  it('obfuscation target (init accept + inner codec): 20k inputs, 0 crashes', () => {
    const crashes = fuzzRun(obfuscationTarget, 0x0bf5, 20_000)
    assert.equal(crashes.length, 0, crashReport(crashes))
  })

  it('the targets and the detection test together run at least 100k cases', () => {
    const total = (targets.length + 1) * CASES
    assert.ok(total >= 100_000, `${total} cases`)
  })
})
