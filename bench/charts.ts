import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The bench's pictures: one SVG per scenario, a horizontal bar per variant
 * (ours highlighted beside each anchor), written next to the docs
 * (docs/img/bench-<scenario>.svg) so docs/benchmarks.md can show them. Plain
 * SVG text: no chart library, nothing fetched when the page is viewed.
 */

export interface ChartRow {
  scenario: string
  variant: string
  ours: boolean
  /** The variant's median, in `unit`. */
  median: number
  unit: string
  /** Ours ÷ this variant (median of the per-round ratios); undefined for ours. */
  ratio?: number
}

const WIDTH = 820
const LABEL = 290
const BAR_H = 22
const GAP = 12
const TOP = 58
const VALUE_ROOM = 230

/** `cache.get over HTTP (hit)` → `cache-get-over-http-hit`. */
export function chartSlug (scenario: string): string {
  return scenario.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
}

function escapeXml (text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

function figure (n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)
}

/** The SVG of one scenario's rows: bars scaled to the largest median, ours first in the colour of the page. */
export function scenarioChart (rows: readonly ChartRow[], subtitle = 'median per variant; higher is better'): string {
  const scenario = rows[0]?.scenario ?? ''
  const max = Math.max(...rows.map((r) => r.median), Number.MIN_VALUE)
  const height = TOP + rows.length * (BAR_H + GAP) + 8
  const span = WIDTH - LABEL - VALUE_ROOM
  const bars = rows.map((row, i) => {
    const y = TOP + i * (BAR_H + GAP)
    const w = Math.max(1, (row.median / max) * span)
    const value = `${figure(row.median)} ${row.unit}` + (row.ratio === undefined ? '' : ` · ours ÷ this ${row.ratio.toFixed(2)}×`)
    return [
      `<text x="${LABEL - 10}" y="${y + BAR_H / 2 + 4}" text-anchor="end" class="${row.ours ? 'ours' : 'label'}">${escapeXml(row.variant)}</text>`,
      `<rect x="${LABEL}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" rx="3" fill="${row.ours ? '#2563eb' : '#9aa5b5'}"/>`,
      `<text x="${(LABEL + w + 8).toFixed(1)}" y="${y + BAR_H / 2 + 4}" class="value">${escapeXml(value)}</text>`
    ].join('\n  ')
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeXml(scenario)}">
  <style>text { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; font-size: 13px; fill: #1d2430 } .title { font-size: 15px; font-weight: 600 } .sub, .value { fill: #5b6575 } .ours { font-weight: 600 }</style>
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="12" y="24" class="title">${escapeXml(scenario)}</text>
  <text x="12" y="44" class="sub">${escapeXml(subtitle)}</text>
  ${bars.join('\n  ')}
</svg>
`
}

/**
 * Writes one chart per scenario of `rows` (in their order) into `dir`, ours
 * first in each; answers the paths written. A scenario not in `rows` keeps its
 * chart from an earlier run.
 */
export function writeCharts (rows: readonly ChartRow[], dir: string, subtitle?: string): string[] {
  mkdirSync(dir, { recursive: true })
  const byScenario = new Map<string, ChartRow[]>()
  for (const row of rows) byScenario.set(row.scenario, [...(byScenario.get(row.scenario) ?? []), row])
  return [...byScenario].map(([scenario, group]) => {
    const path = join(dir, `bench-${chartSlug(scenario)}.svg`)
    const ordered = [...group.filter((r) => r.ours), ...group.filter((r) => !r.ours)]
    writeFileSync(path, scenarioChart(ordered, subtitle))
    return path
  })
}
