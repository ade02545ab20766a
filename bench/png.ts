/**
 * A small dependency-free PNG writer (8-bit RGB, filter 0, zlib from node:zlib, CRC32 from
 * src/util/crc32.ts) and a line-chart renderer for the benches: stacked panels sharing a time axis,
 * tick marks and grid lines drawn as lines, shaded bands (e.g. attack phases), vertical markers
 * (e.g. server crashes), and labels in a built-in 5x7 bitmap font.
 *
 * renderChart() returns the canvas and its layout (plot rectangles, value → pixel mappings) so a
 * test can check that plotted pixels are where they should be.
 */
import { writeFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'
import { crc32 } from '../src/util/crc32.js'

export type Rgb = readonly [number, number, number]

export const COLORS = {
  white: [255, 255, 255] as Rgb,
  black: [0, 0, 0] as Rgb,
  axis: [60, 60, 60] as Rgb,
  grid: [225, 225, 225] as Rgb,
  text: [30, 30, 30] as Rgb,
  blue: [31, 119, 180] as Rgb,
  orange: [255, 127, 14] as Rgb,
  green: [44, 160, 44] as Rgb,
  red: [214, 39, 40] as Rgb,
  purple: [148, 103, 189] as Rgb,
  gray: [127, 127, 127] as Rgb,
}

// ------------------------------------------------------------------------------------------------
// canvas
// ------------------------------------------------------------------------------------------------

export class Canvas {
  readonly data: Uint8Array

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = COLORS.white,
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError('bad canvas size')
    this.data = new Uint8Array(width * height * 3)
    this.fillRect(0, 0, width, height, background)
  }

  get(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 3
    return [this.data[i]!, this.data[i + 1]!, this.data[i + 2]!]
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x)
    y = Math.round(y)
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return
    const i = (y * this.width + x) * 3
    this.data[i] = c[0]
    this.data[i + 1] = c[1]
    this.data[i + 2] = c[2]
  }

  /** Mixes `c` into the pixel with weight `alpha` (0..1). */
  blend(x: number, y: number, c: Rgb, alpha: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return
    const i = (y * this.width + x) * 3
    for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(this.data[i + k]! * (1 - alpha) + c[k]! * alpha)
  }

  /** Fills [x, x+w) × [y, y+h). */
  fillRect(x: number, y: number, w: number, h: number, c: Rgb, alpha = 1): void {
    const xa = Math.max(0, Math.round(x))
    const ya = Math.max(0, Math.round(y))
    const xb = Math.min(this.width, Math.round(x + w))
    const yb = Math.min(this.height, Math.round(y + h))
    for (let yy = ya; yy < yb; yy++) {
      for (let xx = xa; xx < xb; xx++) {
        if (alpha >= 1) this.set(xx, yy, c)
        else this.blend(xx, yy, c, alpha)
      }
    }
  }

  /** Bresenham line from (x0,y0) to (x1,y1), `thickness` pixels (extra pixels below / right). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    x0 = Math.round(x0)
    y0 = Math.round(y0)
    x1 = Math.round(x1)
    y1 = Math.round(y1)
    const dx = Math.abs(x1 - x0)
    const dy = -Math.abs(y1 - y0)
    const sx = x0 < x1 ? 1 : -1
    const sy = y0 < y1 ? 1 : -1
    let err = dx + dy
    const steep = -dy > dx
    for (;;) {
      for (let t = 0; t < thickness; t++) {
        if (steep) this.set(x0 + t, y0, c)
        else this.set(x0, y0 + t, c)
      }
      if (x0 === x1 && y0 === y1) break
      const e2 = 2 * err
      if (e2 >= dy) {
        err += dy
        x0 += sx
      }
      if (e2 <= dx) {
        err += dx
        y0 += sy
      }
    }
  }

  /** Dashed vertical line. */
  vdash(x: number, y0: number, y1: number, c: Rgb, on = 4, off = 3): void {
    for (let y = Math.round(y0); y <= Math.round(y1); y++) if ((y - Math.round(y0)) % (on + off) < on) this.set(x, y, c)
  }

  /** Text in the 5x7 font, top-left at (x, y), `scale` pixels per font pixel; returns the width drawn. */
  text(x: number, y: number, s: string, c: Rgb, scale = 1): number {
    let cx = Math.round(x)
    for (const ch of s.toUpperCase()) {
      const g = FONT[ch] ?? FONT['?']!
      for (let row = 0; row < 7; row++) {
        const bits = g[row]!
        for (let col = 0; col < 5; col++) {
          if (bits[col] === '#') this.fillRect(cx + col * scale, Math.round(y) + row * scale, scale, scale, c)
        }
      }
      cx += 6 * scale
    }
    return cx - Math.round(x)
  }
}

export function textWidth(s: string, scale = 1): number {
  return s.length * 6 * scale
}

// ------------------------------------------------------------------------------------------------
// PNG encoding
// ------------------------------------------------------------------------------------------------

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function chunk(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(12 + body.length)
  out.writeUInt32BE(body.length, 0)
  out.write(type, 4, 'latin1')
  body.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length)
  return out
}

/** 8-bit RGB PNG of the canvas (every scanline with filter type 0). */
export function encodePng(c: Canvas): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(c.width, 0)
  ihdr.writeUInt32BE(c.height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // colour type: truecolour
  ihdr[10] = 0 // compression
  ihdr[11] = 0 // filter method
  ihdr[12] = 0 // no interlace
  const stride = c.width * 3
  const raw = Buffer.alloc((stride + 1) * c.height)
  for (let y = 0; y < c.height; y++) {
    raw[y * (stride + 1)] = 0
    raw.set(c.data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  }
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))])
}

// ------------------------------------------------------------------------------------------------
// chart
// ------------------------------------------------------------------------------------------------

export interface Series {
  label: string
  color: Rgb
  /** [t, value] in t order; a NaN value breaks the line. */
  points: ReadonlyArray<readonly [number, number]>
}

export interface Panel {
  title: string
  series: Series[]
  /** Default 0. */
  yMin?: number
  /** Default: a nice number above the largest value. */
  yMax?: number
}

export interface Band {
  t0: number
  t1: number
  color: Rgb
  /** Weight of the band colour over the background (default 0.35). */
  alpha?: number
  /** Only a strip this many pixels high along the top of each panel (default: the whole height). */
  stripPx?: number
}

export interface Marker {
  t: number
  color: Rgb
}

export interface LegendItem {
  label: string
  color: Rgb
}

export interface ChartSpec {
  width?: number
  /** Height of one panel's plot area (pixels). */
  panelHeight?: number
  title?: string
  /** Label under the time axis, e.g. "MINUTES". */
  xLabel?: string
  /** Time → tick label (default: the number). */
  tickLabel?: (t: number) => string
  tMin: number
  tMax: number
  /** Spacing of x ticks in t units (default: a nice step). */
  xStep?: number
  panels: Panel[]
  bands?: Band[]
  markers?: Marker[]
  legend?: LegendItem[]
}

export interface PanelLayout {
  /** Plot rectangle, inclusive pixel coordinates. */
  x0: number
  y0: number
  x1: number
  y1: number
  yMin: number
  yMax: number
  yTicks: number[]
}

export interface ChartLayout {
  width: number
  height: number
  tMin: number
  tMax: number
  xTicks: number[]
  panels: PanelLayout[]
  /** Pixel column of time t. */
  xOf(t: number): number
  /** Pixel row of value v in panel p (clamped to the plot area). */
  yOf(p: number, v: number): number
}

const MARGIN_LEFT = 64
const MARGIN_RIGHT = 20
const TITLE_H = 28
const PANEL_TITLE_H = 16
const PANEL_GAP = 26
const LEGEND_ROW_H = 14

/** A "nice" step (1, 2, 2.5, 5 × 10^k) so that `range` is split into about `n` parts. */
export function niceStep(range: number, n: number): number {
  if (!(range > 0) || !Number.isFinite(range)) return 1
  const raw = range / n
  const p = Math.pow(10, Math.floor(Math.log10(raw)))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

function ticks(min: number, max: number, step: number): number[] {
  const out: number[] = []
  const first = Math.ceil(min / step - 1e-9) * step
  for (let v = first; v <= max + step * 1e-9; v += step) out.push(Math.round(v / step) * step + 0) // + 0: no -0
  return out
}

export function formatTick(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 10000) return `${Math.round(v / 1000)}K`
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v))
  return String(Math.round(v * 100) / 100)
}

export function renderChart(spec: ChartSpec): { canvas: Canvas; layout: ChartLayout } {
  const width = spec.width ?? 1200
  const ph = spec.panelHeight ?? 220
  const legend = spec.legend ?? []
  // legend: items laid out in rows
  const legendRows: LegendItem[][] = []
  {
    let row: LegendItem[] = []
    let w = 0
    for (const it of legend) {
      const iw = 16 + textWidth(it.label) + 18
      if (w + iw > width - MARGIN_LEFT - MARGIN_RIGHT && row.length > 0) {
        legendRows.push(row)
        row = []
        w = 0
      }
      row.push(it)
      w += iw
    }
    if (row.length > 0) legendRows.push(row)
  }
  const n = spec.panels.length
  const axisLabelsH = 30
  const height = TITLE_H + n * (PANEL_TITLE_H + ph) + (n - 1) * PANEL_GAP + axisLabelsH + legendRows.length * LEGEND_ROW_H + 8
  const canvas = new Canvas(width, height)
  const tMin = spec.tMin
  const tMax = spec.tMax > spec.tMin ? spec.tMax : spec.tMin + 1
  const px0 = MARGIN_LEFT
  const px1 = width - MARGIN_RIGHT - 1
  const xOf = (t: number) => Math.round(px0 + ((t - tMin) / (tMax - tMin)) * (px1 - px0))
  const xStep = spec.xStep ?? niceStep(tMax - tMin, 10)
  const xTicks = ticks(tMin, tMax, xStep)
  const tickLabel = spec.tickLabel ?? formatTick

  if (spec.title) canvas.text(px0, 8, spec.title, COLORS.text, 2)

  const panels: PanelLayout[] = []
  spec.panels.forEach((p, i) => {
    const top = TITLE_H + i * (PANEL_TITLE_H + ph + PANEL_GAP) + PANEL_TITLE_H
    let maxV = -Infinity
    for (const s of p.series) for (const [, v] of s.points) if (Number.isFinite(v)) maxV = Math.max(maxV, v)
    const yMin = p.yMin ?? 0
    let yMax = p.yMax ?? (Number.isFinite(maxV) && maxV > yMin ? maxV : yMin + 1)
    const yStep = niceStep(yMax - yMin, 5)
    if (p.yMax === undefined) yMax = Math.ceil(yMax / yStep - 1e-9) * yStep
    if (yMax <= yMin) yMax = yMin + yStep
    panels.push({ x0: px0, y0: top, x1: px1, y1: top + ph - 1, yMin, yMax, yTicks: ticks(yMin, yMax, yStep) })
  })
  const yOf = (pi: number, v: number) => {
    const l = panels[pi]!
    const f = (v - l.yMin) / (l.yMax - l.yMin)
    return Math.max(l.y0, Math.min(l.y1, Math.round(l.y1 - f * (l.y1 - l.y0))))
  }

  spec.panels.forEach((p, i) => {
    const l = panels[i]!
    // bands, then grid, then axes, then data
    for (const b of spec.bands ?? []) {
      const xa = Math.max(l.x0, xOf(b.t0))
      const xb = Math.min(l.x1, xOf(b.t1))
      const h = Math.min(b.stripPx ?? Infinity, l.y1 - l.y0 + 1)
      if (xb >= xa) canvas.fillRect(xa, l.y0, xb - xa + 1, h, b.color, b.alpha ?? 0.35)
    }
    for (const v of l.yTicks) {
      const y = yOf(i, v)
      if (y > l.y0 && y < l.y1) for (let x = l.x0 + 1; x < l.x1; x += 2) canvas.set(x, y, COLORS.grid)
      canvas.line(l.x0 - 5, y, l.x0 - 1, y, COLORS.axis)
      const s = formatTick(v)
      canvas.text(l.x0 - 8 - textWidth(s), y - 3, s, COLORS.text)
    }
    for (const t of xTicks) {
      const x = xOf(t)
      if (x > l.x0 && x < l.x1) for (let y = l.y0 + 1; y < l.y1; y += 2) canvas.set(x, y, COLORS.grid)
      canvas.line(x, l.y1 + 1, x, l.y1 + 5, COLORS.axis)
      if (i === n - 1) {
        const s = tickLabel(t)
        canvas.text(x - textWidth(s) / 2, l.y1 + 9, s, COLORS.text)
      }
    }
    canvas.line(l.x0, l.y0, l.x1, l.y0, COLORS.axis)
    canvas.line(l.x0, l.y1, l.x1, l.y1, COLORS.axis)
    canvas.line(l.x0, l.y0, l.x0, l.y1, COLORS.axis)
    canvas.line(l.x1, l.y0, l.x1, l.y1, COLORS.axis)
    // panel title with the series' colours
    let tx = l.x0
    tx += canvas.text(tx, l.y0 - 12, p.title, COLORS.text) + 12
    if (p.series.length > 1) {
      for (const s of p.series) {
        canvas.fillRect(tx, l.y0 - 10, 10, 3, s.color)
        tx += 14
        tx += canvas.text(tx, l.y0 - 12, s.label, s.color) + 12
      }
    }
    for (const m of spec.markers ?? []) canvas.vdash(xOf(m.t), l.y0, l.y1, m.color)
    for (const s of p.series) {
      let prev: [number, number] | undefined
      for (const [t, v] of s.points) {
        if (!Number.isFinite(v) || t < tMin || t > tMax) {
          prev = undefined
          continue
        }
        const pt: [number, number] = [xOf(t), yOf(i, v)]
        if (prev === undefined) canvas.set(pt[0], pt[1], s.color)
        else canvas.line(prev[0], prev[1], pt[0], pt[1], s.color)
        prev = pt
      }
    }
  })

  const lastPanel = panels[n - 1]
  let y = (lastPanel?.y1 ?? TITLE_H) + 9
  if (spec.xLabel) {
    const s = spec.xLabel
    canvas.text(px1 - textWidth(s), y + 10, s, COLORS.text)
  }
  y += axisLabelsH - 6
  for (const row of legendRows) {
    let x = px0
    for (const it of row) {
      canvas.fillRect(x, y, 12, 8, it.color)
      x += 16
      x += canvas.text(x, y, it.label, COLORS.text) + 18
    }
    y += LEGEND_ROW_H
  }

  return { canvas, layout: { width, height, tMin, tMax, xTicks, panels, xOf, yOf } }
}

/** Renders `spec` and writes it as PNG to `path`; returns the layout. */
export function writeChartPng(path: string, spec: ChartSpec): ChartLayout {
  const { canvas, layout } = renderChart(spec)
  writeFileSync(path, encodePng(canvas))
  return layout
}

// ------------------------------------------------------------------------------------------------
// 5x7 font: 7 rows of 5 columns, '#' = ink
// ------------------------------------------------------------------------------------------------

const G = (s: string): string[] => s.split('|')

export const FONT: Record<string, string[]> = {
  ' ': G('.....|.....|.....|.....|.....|.....|.....'),
  '0': G('.###.|#...#|#..##|#.#.#|##..#|#...#|.###.'),
  '1': G('..#..|.##..|..#..|..#..|..#..|..#..|.###.'),
  '2': G('.###.|#...#|....#|...#.|..#..|.#...|#####'),
  '3': G('####.|....#|....#|.###.|....#|....#|####.'),
  '4': G('...#.|..##.|.#.#.|#..#.|#####|...#.|...#.'),
  '5': G('#####|#....|####.|....#|....#|#...#|.###.'),
  '6': G('..##.|.#...|#....|####.|#...#|#...#|.###.'),
  '7': G('#####|....#|...#.|..#..|.#...|.#...|.#...'),
  '8': G('.###.|#...#|#...#|.###.|#...#|#...#|.###.'),
  '9': G('.###.|#...#|#...#|.####|....#|...#.|.##..'),
  A: G('.###.|#...#|#...#|#####|#...#|#...#|#...#'),
  B: G('####.|#...#|#...#|####.|#...#|#...#|####.'),
  C: G('.###.|#...#|#....|#....|#....|#...#|.###.'),
  D: G('###..|#..#.|#...#|#...#|#...#|#..#.|###..'),
  E: G('#####|#....|#....|####.|#....|#....|#####'),
  F: G('#####|#....|#....|####.|#....|#....|#....'),
  G: G('.###.|#...#|#....|#.###|#...#|#...#|.####'),
  H: G('#...#|#...#|#...#|#####|#...#|#...#|#...#'),
  I: G('.###.|..#..|..#..|..#..|..#..|..#..|.###.'),
  J: G('..###|...#.|...#.|...#.|...#.|#..#.|.##..'),
  K: G('#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#'),
  L: G('#....|#....|#....|#....|#....|#....|#####'),
  M: G('#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#'),
  N: G('#...#|#...#|##..#|#.#.#|#..##|#...#|#...#'),
  O: G('.###.|#...#|#...#|#...#|#...#|#...#|.###.'),
  P: G('####.|#...#|#...#|####.|#....|#....|#....'),
  Q: G('.###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#'),
  R: G('####.|#...#|#...#|####.|#.#..|#..#.|#...#'),
  S: G('.####|#....|#....|.###.|....#|....#|####.'),
  T: G('#####|..#..|..#..|..#..|..#..|..#..|..#..'),
  U: G('#...#|#...#|#...#|#...#|#...#|#...#|.###.'),
  V: G('#...#|#...#|#...#|#...#|#...#|.#.#.|..#..'),
  W: G('#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.'),
  X: G('#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#'),
  Y: G('#...#|#...#|.#.#.|..#..|..#..|..#..|..#..'),
  Z: G('#####|....#|...#.|..#..|.#...|#....|#####'),
  '.': G('.....|.....|.....|.....|.....|.##..|.##..'),
  ',': G('.....|.....|.....|.....|.##..|..#..|.#...'),
  ':': G('.....|.##..|.##..|.....|.##..|.##..|.....'),
  '-': G('.....|.....|.....|#####|.....|.....|.....'),
  '+': G('.....|..#..|..#..|#####|..#..|..#..|.....'),
  '_': G('.....|.....|.....|.....|.....|.....|#####'),
  '/': G('.....|....#|...#.|..#..|.#...|#....|.....'),
  '%': G('##...|##..#|...#.|..#..|.#...|#..##|...##'),
  '(': G('...#.|..#..|.#...|.#...|.#...|..#..|...#.'),
  ')': G('.#...|..#..|...#.|...#.|...#.|..#..|.#...'),
  '=': G('.....|.....|#####|.....|#####|.....|.....'),
  '<': G('...#.|..#..|.#...|#....|.#...|..#..|...#.'),
  '>': G('.#...|..#..|...#.|....#|...#.|..#..|.#...'),
  '?': G('.###.|#...#|....#|...#.|..#..|.....|..#..'),
}
