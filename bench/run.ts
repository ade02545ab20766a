/**
 * Benchmark dispatcher: `npm run bench -- NAME` runs bench/NAME.ts (compiled to dist/bench/NAME.js).
 * Each bench prints one JSON line per figure on stdout (see bench/report.ts); logs go to stderr.
 * Servers a bench hosts in this process run with the V8 settings of mtgate's CLI (tuneV8).
 */
import { tuneV8 } from '../src/util/v8-tuning.js'

tuneV8()
const name = process.argv[2]
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- NAME   (NAME = a file in bench/, e.g. tl, crypto, handshake, store, rpc)')
  process.exit(2)
}
await import(`./${name}.js`)
