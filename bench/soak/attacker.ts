/**
 * The soak bench's attacker process (forked by bench/soak.ts). It imports the adversarial module
 * (test/adversarial/attacks.ts, compiled to dist/test/adversarial/attacks.js) dynamically and runs
 * the attacks the parent asks for — { cmd: 'run', name, localAddress (127.0.0.x), durationMs } —
 * several at once when phases overlap. Each run gets an AbortSignal that fires at durationMs (and
 * on stop); a run still going 5 s after that is reported as overdue and left behind (the parent
 * kills this process at the end).
 *
 * replay needs params.packet, an encrypted packet as sent: for each replay run a fresh one is made
 * as a legitimate client would send it — a ping in a new session, with the server salt learnt over
 * a RawClient connection from the run's address, sealed with an auth key of the store that no
 * legitimate client uses (init.replayKey) — so that the copies test duplicate detection, not the
 * msg_id time window.
 */
import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import type { AttackOptions, AttackReport, AttackTarget } from '../../test/adversarial/attacks.js'
import type { FromAttacker, ToAttacker } from './protocol.js'

type Attack = (o: AttackOptions) => Promise<AttackReport>

/** Overridable for a run against another copy of the module (SOAK_ATTACKS_MODULE, a path or URL). */
export const ATTACKS_MODULE = process.env.SOAK_ATTACKS_MODULE ?? new URL('../../test/adversarial/attacks.js', import.meta.url).href

const send = (m: FromAttacker) => {
  if (process.connected) process.send!(m)
}

let attacks: Record<string, Attack> = {}
let target: AttackTarget | undefined
let replayKey: string | undefined

async function replayPacket(t: AttackTarget, keyHex: string, localAddress: string): Promise<Buffer> {
  const { RawClient } = await import('../../test/e2e/raw-client.js')
  const { AuthKey, sealMessage } = await import('../../src/crypto/message.js')
  const key = new AuthKey(Buffer.from(keyHex, 'hex'))
  const c = await RawClient.connect({ host: t.host, port: t.port, key, localAddress })
  try {
    await c.ping() // bad_server_salt: the current salt
    const body = Buffer.alloc(12)
    body.writeUInt32LE(0x7abe77ec, 0) // ping ping_id:long
    randomBytes(8).copy(body, 4)
    return sealMessage(key, { salt: c.salt, sessionId: randomBytes(8).readBigInt64LE(0), msgId: c.allocMsgId(), seqNo: 1, body }, 'client')
  } finally {
    c.close()
  }
}
const running = new Map<number, AbortController>()

process.on('message', async (m: ToAttacker) => {
  if (m.cmd === 'init') {
    try {
      const mod = (await import(ATTACKS_MODULE)) as { ATTACKS?: Record<string, Attack> }
      if (mod.ATTACKS === undefined || typeof mod.ATTACKS !== 'object') throw new Error(`${ATTACKS_MODULE} has no ATTACKS export`)
      attacks = mod.ATTACKS
      target = m.target
      replayKey = m.replayKey
      send({ type: 'ready', names: Object.keys(attacks) })
    } catch (e) {
      send({ type: 'error', message: `cannot load the attacks module ${ATTACKS_MODULE}: ${(e as Error).message}` })
    }
  } else if (m.cmd === 'run') {
    const fn = attacks[m.name]
    if (fn === undefined || target === undefined) {
      send({ type: 'done', id: m.id, name: m.name, ms: 0, error: `unknown attack ${m.name}` })
      return
    }
    const ac = new AbortController()
    setMaxListeners(0, ac.signal) // an attack may hang one listener per connection on it
    running.set(m.id, ac)
    const abortTimer = setTimeout(() => ac.abort(), m.durationMs)
    const t0 = performance.now()
    let overdue: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      overdue = setTimeout(() => reject(new Error(`still running ${m.durationMs + 5000} ms after its start (duration ${m.durationMs} ms)`)), m.durationMs + 5000)
    })
    try {
      const params = m.name === 'replay' && replayKey !== undefined ? { packet: await replayPacket(target, replayKey, m.localAddress) } : undefined
      const report = await Promise.race([
        fn({ target, localAddress: m.localAddress, durationMs: m.durationMs, signal: ac.signal, intensity: m.intensity, params }),
        late,
      ])
      send({ type: 'done', id: m.id, name: m.name, ms: Math.round(performance.now() - t0), report })
    } catch (e) {
      send({ type: 'done', id: m.id, name: m.name, ms: Math.round(performance.now() - t0), error: (e as Error).message })
    } finally {
      clearTimeout(abortTimer)
      clearTimeout(overdue)
      ac.abort()
      running.delete(m.id)
    }
  } else if (m.cmd === 'stop') {
    for (const ac of running.values()) ac.abort()
    // give aborted attacks a moment to close their sockets, then go
    setTimeout(() => process.exit(0), 500).unref()
    if (running.size === 0) process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
// the attacks may leave rejected promises behind when aborted: they must not end the process
process.on('uncaughtException', (e) => process.stderr.write(`soak attacker: uncaught exception: ${e?.stack ?? String(e)}\n`))
process.on('unhandledRejection', (e) => process.stderr.write(`soak attacker: unhandled rejection: ${(e as Error)?.message ?? String(e)}\n`))
