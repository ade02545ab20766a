import type { TlEntry } from '../parser/parse.js'
import { HEADER, hexId } from './generate.js'

/**
 * The data module of every vendored layer (generated/layers.ts): each distinct definition once, and
 * per layer which of them it holds, as a difference from the layer before. The run time parses it
 * (src/tl/schemas.ts) for the interpreted codecs of older layers and for conversion between layers.
 */

/** One definition in the form the data module keeps: `c ` or `m ` (constructor / method), then the TL line. */
export function definitionLine(e: TlEntry): string {
  const parts = [`${e.name}#${hexId(e.id)}`]
  for (const g of e.generics) parts.push(`{${g.name}:${g.type}}`)
  for (const a of e.args) parts.push(a.cond ? `${a.name}:${a.cond.field}.${a.cond.bit}?${a.type}` : `${a.name}:${a.type}`)
  return `${e.kind === 'method' ? 'm' : 'c'} ${parts.join(' ')} = ${e.result}`
}

export function generateLayers(mtproto: TlEntry[], layers: Map<number, TlEntry[]>): string {
  const index = new Map<string, number>()
  const definitions: string[] = []
  const deltas: [number[], number[]][] = []
  let before = new Set<number>()
  for (const entries of layers.values()) {
    const now = new Set<number>()
    for (const e of entries) {
      const line = definitionLine(e)
      let i = index.get(line)
      if (i === undefined) {
        i = definitions.length
        index.set(line, i)
        definitions.push(line)
      }
      now.add(i)
    }
    deltas.push([[...now].filter((i) => !before.has(i)), [...before].filter((i) => !now.has(i))])
    before = now
  }
  const list = (xs: number[]) => `[${xs.join(', ')}]`
  const out = [HEADER]
  out.push(
    '/** Every vendored API layer, oldest first; the last one is compiled into schema.ts. */',
    `export const LAYERS: readonly number[] = [${[...layers.keys()].join(', ')}]`,
    '',
    '/** schema/mtproto.tl: the same in every layer (`c ` constructor, `m ` method, then the TL line). */',
    'export const MTPROTO_DEFINITIONS: readonly string[] = [',
    ...mtproto.map((e) => `  ${JSON.stringify(definitionLine(e))},`),
    ']',
    '',
    '/** Every distinct definition of any vendored API layer, once. */',
    'export const DEFINITIONS: readonly string[] = [',
    ...definitions.map((d) => `  ${JSON.stringify(d)},`),
    ']',
    '',
    '/** Per layer (in LAYERS order): indexes into DEFINITIONS it adds and removes relative to the layer before. */',
    'export const LAYER_DELTAS: readonly (readonly [readonly number[], readonly number[]])[] = [',
    ...deltas.map(([add, del]) => `  [${list(add)}, ${list(del)}],`),
    ']',
    '',
  )
  return out.join('\n')
}
