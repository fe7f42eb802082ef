import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { chartSlug, scenarioChart, writeCharts, type ChartRow } from '../../bench/charts.js'

// The bench's SVG charts: one per scenario, ours first and highlighted, each
// bar as long as its median, names escaped.

const rows: ChartRow[] = [
  { scenario: 'rate limit: allowed, 1,000 keys', variant: '@fastify/rate-limit <redis>', ours: false, median: 5000, unit: 'req/s', ratio: 2 },
  { scenario: 'rate limit: allowed, 1,000 keys', variant: 'token bucket (ours)', ours: true, median: 10_000, unit: 'req/s' },
  { scenario: 'deleteAllForUser', variant: 'ours', ours: true, median: 71.5, unit: 'delete-alls/s' },
  { scenario: 'deleteAllForUser', variant: 'naive', ours: false, median: 5.25, unit: 'delete-alls/s', ratio: 13.62 }
]

const widths = (svg: string): number[] => [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]))

t.test('one file per scenario, named after it, ours first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-charts-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const written = writeCharts(rows, dir, 'a short run')
  t.same(written, [join(dir, 'bench-rate-limit-allowed-1-000-keys.svg'), join(dir, 'bench-deleteallforuser.svg')])
  t.same(readdirSync(dir).sort(), ['bench-deleteallforuser.svg', 'bench-rate-limit-allowed-1-000-keys.svg'])

  const svg = readFileSync(written[0] as string, 'utf8')
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, 'a short run')
  t.ok(svg.indexOf('token bucket (ours)') < svg.indexOf('@fastify/rate-limit'), 'ours first')
  t.match(svg, '@fastify/rate-limit &lt;redis&gt;', 'names are escaped')
  t.notMatch(svg, '<redis>')
  const [ours, anchor] = widths(svg)
  t.equal(ours, 2 * (anchor as number), 'bars scale with the medians')
  t.match(svg, '10,000 req/s<')
  t.match(svg, '5,000 req/s · ours ÷ this 2.00×')
  t.match(readFileSync(written[1] as string, 'utf8'), '5.25 delete-alls/s · ours ÷ this 13.62×', 'small figures keep two decimals')
})

t.test('edge cases: no rows, a zero median, odd names', async (t) => {
  t.match(scenarioChart([]), /<svg[^>]+aria-label=""/)
  const zero = scenarioChart([{ scenario: 's', variant: 'v', ours: true, median: 0, unit: 'ops/s' }])
  t.same(widths(zero), [1], 'a zero still shows a sliver')
  t.equal(chartSlug('  Cache.get over HTTP (hit)! '), 'cache-get-over-http-hit')
})
