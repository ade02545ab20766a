/**
 * bench/png.ts: the PNG it writes decodes (signature, chunk CRCs, IHDR, IDAT through zlib inflate,
 * IEND) and the chart's pixels are where its layout says: series lines, shaded bands, axes, markers.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { inflateSync } from 'node:zlib'
import { crc32 } from '../../src/util/crc32.js'
import { Canvas, COLORS, encodePng, PNG_SIGNATURE, renderChart, type Rgb } from '../../bench/png.js'

interface Decoded {
  width: number
  height: number
  chunks: string[]
  pixel(x: number, y: number): Rgb
}

/** A strict decoder for what encodePng writes: 8-bit RGB, no interlace; filter 0 (others rejected). */
function decodePng(png: Buffer): Decoded {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'signature')
  let off = 8
  const chunks: string[] = []
  const idat: Buffer[] = []
  let ihdr: Buffer | undefined
  while (off < png.length) {
    const len = png.readUInt32BE(off)
    const type = png.toString('latin1', off + 4, off + 8)
    const body = png.subarray(off + 8, off + 8 + len)
    const crc = png.readUInt32BE(off + 8 + len)
    assert.equal(crc, crc32(png.subarray(off + 4, off + 8 + len)), `CRC of ${type}`)
    chunks.push(type)
    if (type === 'IHDR') ihdr = body
    if (type === 'IDAT') idat.push(body)
    off += 12 + len
  }
  assert.equal(off, png.length, 'no trailing bytes')
  assert.ok(ihdr !== undefined && ihdr.length === 13)
  const width = ihdr.readUInt32BE(0)
  const height = ihdr.readUInt32BE(4)
  assert.deepEqual([...ihdr.subarray(8)], [8, 2, 0, 0, 0], 'bit depth 8, truecolour, deflate, filter method 0, no interlace')
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * 3
  assert.equal(raw.length, (stride + 1) * height)
  for (let y = 0; y < height; y++) assert.equal(raw[y * (stride + 1)], 0, `filter type of row ${y}`)
  return {
    width,
    height,
    chunks,
    pixel(x, y) {
      const i = y * (stride + 1) + 1 + x * 3
      return [raw[i]!, raw[i + 1]!, raw[i + 2]!]
    },
  }
}

describe('bench/png.ts', () => {
  it('encodes a canvas: chunks, CRCs, dimensions and pixels survive a decode', () => {
    const c = new Canvas(7, 5)
    c.set(0, 0, [1, 2, 3])
    c.set(6, 4, [250, 251, 252])
    c.fillRect(2, 1, 2, 2, COLORS.red)
    const d = decodePng(encodePng(c))
    assert.deepEqual(d.chunks, ['IHDR', 'IDAT', 'IEND'])
    assert.equal(d.width, 7)
    assert.equal(d.height, 5)
    assert.deepEqual(d.pixel(0, 0), [1, 2, 3])
    assert.deepEqual(d.pixel(6, 4), [250, 251, 252])
    for (const [x, y] of [[2, 1], [3, 1], [2, 2], [3, 2]] as const) assert.deepEqual(d.pixel(x, y), COLORS.red)
    assert.deepEqual(d.pixel(4, 1), COLORS.white)
    assert.deepEqual(d.pixel(1, 3), COLORS.white)
  })

  it('draws lines between the given points (Bresenham, endpoints included)', () => {
    const c = new Canvas(20, 20)
    c.line(1, 1, 18, 10, COLORS.blue)
    c.line(5, 18, 5, 2, COLORS.green)
    const d = decodePng(encodePng(c))
    assert.deepEqual(d.pixel(1, 1), COLORS.blue)
    assert.deepEqual(d.pixel(18, 10), COLORS.blue)
    for (let y = 2; y <= 18; y++) assert.deepEqual(d.pixel(5, y), COLORS.green)
    // a line of slope 9/17 has exactly one pixel per column (column 5: the green line drawn over it)
    for (let x = 1; x <= 18; x++) {
      if (x === 5) continue
      let n = 0
      for (let y = 0; y < 20; y++) if (d.pixel(x, y).join() === COLORS.blue.join()) n++
      assert.equal(n, 1, `column ${x}`)
    }
  })

  it('renders a chart whose plotted pixels are where the layout puts them', () => {
    const series: Array<[number, number]> = []
    for (let t = 0; t <= 10; t++) series.push([t, t * 10]) // a straight line from (0,0) to (10,100)
    const flat: Array<[number, number]> = [[0, 40], [10, 40]]
    const band: Rgb = [255, 0, 255]
    const { canvas, layout } = renderChart({
      width: 600,
      panelHeight: 150,
      title: 'TEST CHART',
      xLabel: 'MINUTES',
      tMin: 0,
      tMax: 10,
      panels: [
        { title: 'A', series: [{ label: 'UP', color: COLORS.blue, points: series }], yMax: 100 },
        { title: 'B', series: [{ label: 'FLAT', color: COLORS.red, points: flat }] },
      ],
      bands: [{ t0: 6, t1: 8, color: band, alpha: 1 }, { t0: 1, t1: 2, color: COLORS.black, alpha: 1, stripPx: 5 }],
      markers: [{ t: 3, color: COLORS.green }],
      legend: [{ label: 'BAND', color: band }],
    })
    const d = decodePng(encodePng(canvas))
    assert.equal(d.width, 600)
    assert.equal(d.height, layout.height)
    assert.equal(layout.panels.length, 2)
    const [a, b] = layout.panels as [(typeof layout.panels)[0], (typeof layout.panels)[0]]
    assert.equal(a.y1 - a.y0 + 1, 150)
    assert.ok(b.y0 > a.y1, 'panels stacked')
    assert.equal(a.yMax, 100)
    assert.deepEqual(a.yTicks, [0, 20, 40, 60, 80, 100])
    assert.ok(b.yMax >= 40 && b.yMax <= 50, `panel B scaled to its data (yMax ${b.yMax})`)

    // the rising line: every data point of panel A lies on its line, in its colour
    for (const [t, v] of series) {
      if (t >= 6 && t <= 8) continue // still the line's colour (drawn over the band), checked below
      assert.deepEqual(d.pixel(layout.xOf(t), layout.yOf(0, v)), COLORS.blue, `A at t=${t}`)
    }
    assert.deepEqual(d.pixel(layout.xOf(7), layout.yOf(0, 70)), COLORS.blue, 'line over the band')
    // x = t maps linearly onto the plot rectangle
    assert.equal(layout.xOf(0), a.x0)
    assert.equal(layout.xOf(10), a.x1)
    assert.equal(layout.yOf(0, 0), a.y1)
    assert.equal(layout.yOf(0, 100), a.y0)
    // the flat line of panel B: one row, in red, from end to end (except where the marker is)
    const yFlat = layout.yOf(1, 40)
    for (let x = b.x0 + 1; x < b.x1; x++) {
      if (x === layout.xOf(3)) continue
      assert.deepEqual(d.pixel(x, yFlat), COLORS.red, `B at x=${x}`)
    }
    assert.notDeepEqual(d.pixel(layout.xOf(2), yFlat - 3), COLORS.red)
    // the band fills t in [6, 8] of both panels, away from lines and grid
    for (const p of [a, b]) {
      const x = layout.xOf(6.5)
      const y = Math.round(p.y0 + (p.y1 - p.y0) * 0.1) + 1
      assert.deepEqual(d.pixel(x, y), band, 'band')
      assert.deepEqual(d.pixel(layout.xOf(5.5), y).join() === band.join(), false, 'no band before t=6')
      assert.deepEqual(d.pixel(layout.xOf(8.5), y).join() === band.join(), false, 'no band after t=8')
    }
    // a strip band: only the top 5 rows of each panel
    for (const p of [a, b]) {
      const x = layout.xOf(1.3)
      assert.deepEqual(d.pixel(x, p.y0 + 4), COLORS.black, 'strip')
      assert.notDeepEqual(d.pixel(x, p.y0 + 5), COLORS.black, 'strip ends')
    }
    // plot frame on the rectangle, background outside the data
    assert.deepEqual(d.pixel(a.x0, a.y0 + 5), COLORS.axis)
    assert.deepEqual(d.pixel(a.x1, a.y0 + 5), COLORS.axis)
    assert.deepEqual(d.pixel(a.x0 + 50, a.y1), COLORS.axis)
    assert.deepEqual(d.pixel(layout.xOf(9.3), layout.yOf(0, 30)), COLORS.white, 'nothing plotted far from the line (off the grid)')
    // the marker is a dashed vertical line at t = 3 in both panels
    const mx = layout.xOf(3)
    let marked = 0
    for (let y = b.y0 + 1; y < b.y1; y++) if (d.pixel(mx, y).join() === COLORS.green.join()) marked++
    assert.ok(marked > (b.y1 - b.y0) / 2 && marked < b.y1 - b.y0, `dashed marker (${marked} px)`)
    // tick marks below each panel at the x ticks
    assert.ok(layout.xTicks.includes(0) && layout.xTicks.includes(10))
    for (const t of layout.xTicks) assert.deepEqual(d.pixel(layout.xOf(t), a.y1 + 3), COLORS.axis, `x tick ${t}`)
    for (const v of a.yTicks) assert.deepEqual(d.pixel(a.x0 - 3, layout.yOf(0, v)), COLORS.axis, `y tick ${v}`)
    // some text was drawn (title in the top margin)
    let ink = 0
    for (let y = 0; y < 26; y++) for (let x = 0; x < 300; x++) if (d.pixel(x, y).join() === COLORS.text.join()) ink++
    assert.ok(ink > 50, 'title drawn')
  })

  it('a NaN value breaks the line', () => {
    const { canvas, layout } = renderChart({
      width: 300,
      panelHeight: 100,
      tMin: 0,
      tMax: 4,
      panels: [{ title: 'X', series: [{ label: 'S', color: COLORS.purple, points: [[0, 5], [1, 5], [2, NaN], [3, 5], [4, 5]] }], yMax: 10 }],
    })
    const d = decodePng(encodePng(canvas))
    const y = layout.yOf(0, 5)
    assert.deepEqual(d.pixel(layout.xOf(0.5), y), COLORS.purple)
    assert.deepEqual(d.pixel(layout.xOf(3.5), y), COLORS.purple)
    assert.notDeepEqual(d.pixel(layout.xOf(2), y), COLORS.purple)
    assert.notDeepEqual(d.pixel(layout.xOf(1.5), y), COLORS.purple)
  })
})
