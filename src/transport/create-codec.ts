import { AbridgedCodec } from './abridged.js'
import type { Codec, CodecName, CodecOptions } from './codec.js'
import { FullCodec } from './full.js'
import { IntermediateCodec, PaddedIntermediateCodec } from './intermediate.js'

/** A fresh codec of the named framing. */
export function createCodec(name: CodecName, opts: CodecOptions): Codec {
  switch (name) {
    case 'abridged':
      return new AbridgedCodec(opts)
    case 'intermediate':
      return new IntermediateCodec(opts)
    case 'padded':
      return new PaddedIntermediateCodec(opts)
    case 'full':
      return new FullCodec(opts)
  }
}
