/**
 * The README's `npx mtgate decode` blocks: the command block's line runs in a directory holding a
 * fixed conversation (key.hex, client.bin, server.bin: a ping over intermediate and its pong, with
 * a fixed key, ids and padding), and prints the output block exactly.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from '../../src/cli/args.js'
import { AuthKey, sealMessage } from '../../src/crypto/message.js'
import { encode } from '../../src/tl/index.js'
import { codecTag } from '../../src/transport/codec.js'
import { createCodec } from '../../src/transport/create-codec.js'
import { ROOT, where, type Block } from './blocks.js'
import { commandLines } from './cli.js'
import { describeRun, run, SCRATCH_PARENT } from './run.js'

export const isDecodeCommand = (b: Block): boolean => b.lang === 'sh' && b.body.startsWith('npx mtgate decode ')
export const isDecodeOutput = (b: Block): boolean => b.lang === 'json' && b.body.startsWith('{"from":')

/** key.hex, client.bin and server.bin of the fixed conversation, in a new directory. */
export function sampleConversation(): string {
  const key = new AuthKey(Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff)))
  const zeros = (n: number): Buffer => Buffer.alloc(n)
  const common = { salt: 0x1122334455667788n, sessionId: 0x0123456789abcdefn }
  const pingId = 42n
  const ping = sealMessage(key, { ...common, msgId: 0x65f0000000000004n, seqNo: 1, body: encode({ _: 'ping', ping_id: pingId }) }, 'client', zeros)
  const pongBody = encode({ _: 'pong', msg_id: 0x65f0000000000004n, ping_id: pingId })
  const pong = sealMessage(key, { ...common, msgId: 0x65f0000000000401n, seqNo: 2, body: pongBody }, 'server', zeros)
  const dir = mkdtempSync(join(SCRATCH_PARENT, 'decode-'))
  writeFileSync(join(dir, 'key.hex'), key.key.toString('hex') + '\n')
  writeFileSync(join(dir, 'client.bin'), Buffer.concat([codecTag('intermediate'), createCodec('intermediate', { side: 'client', maxFrameSize: 1 << 20 }).encodePacket(ping)]))
  writeFileSync(join(dir, 'server.bin'), createCodec('intermediate', { side: 'server', maxFrameSize: 1 << 20 }).encodePacket(pong))
  return dir
}

/** Runs the command block's line on the fixed conversation; its output is the output block. */
export async function assertDecodeBlocks(command: Block, output: Block): Promise<void> {
  const lines = commandLines(command)
  assert.equal(lines.length, 1, `${where(command)}: one command line`)
  const [npx, tool, ...argv] = lines[0]!.cmd.split(/\s+/)
  assert.deepEqual([npx, tool], ['npx', 'mtgate'])
  assert.equal(parseArgs(argv).command, 'decode')
  const dir = sampleConversation()
  const r = await run(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), ...argv], { cwd: dir, timeoutMs: 30_000 })
  assert.equal(r.code, 0, describeRun(r))
  assert.equal(r.stdout, output.body, `${where(output)} is what ${where(command)} prints`)
}
