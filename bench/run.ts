import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { startRedis } from '../harness/redis-server.js'
import { writeCharts, type ChartRow } from './charts.js'
import { median, type BenchContext } from './harness.js'
import { measureOutage } from './outage.js'
import { scenarios } from './scenarios/index.js'

/**
 * `npm run bench`: starts a private Redis, runs each scenario's variants (ours
 * and the anchors) in the same run, interleaved round by round with the order
 * rotated, and prints medians and ratios (ours ÷ anchor).
 *
 * BENCH_ROUNDS (default 5), BENCH_DURATION_MS (default 3000 per measurement),
 * BENCH_CONNECTIONS (default 50), BENCH_ONLY (substring of scenario names),
 * BENCH_CHARTS_DIR (default docs/img: one SVG chart per scenario run).
 */

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const only = process.env.BENCH_ONLY
const redis = await startRedis()
const ctx: BenchContext = {
  redisUrl: redis.url,
  durationMs: Number(process.env.BENCH_DURATION_MS ?? 3000),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50)
}

const fmt = (n: number): string => n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)
const rows: string[] = []
const chartRows: ChartRow[] = []
const allNotes: string[] = []
let missed = 0
console.log(`# cachekit bench — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${rounds} rounds × ${ctx.durationMs} ms, interleaved\n`)
try {
  for (const scenario of scenarios) {
    if (only !== undefined && !scenario.name.includes(only)) continue
    const run = await scenario.setup(ctx)
    const names = Object.keys(run.variants)
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
    try {
      for (let round = 0; round < rounds; round++) {
        // rotate the order so no variant always runs first (warm) or last (tired)
        const order = names.map((_, i) => names[(i + round) % names.length] as string)
        for (const name of order) {
          await redis.flush()
          samples[name]?.push(await (run.variants[name] as () => Promise<number>)())
        }
      }
    } finally {
      await run.close()
    }
    const ours = samples[scenario.ours] ?? []
    for (const name of names) {
      const own = samples[name] ?? []
      const isOurs = name === scenario.ours
      // each round measures every variant back to back: the median of the
      // per-round ratios cancels the machine's drift better than a ratio of medians
      const ratio = median(ours.map((o, i) => o / (own[i] as number)))
      const target = scenario.targets?.[name]
      const verdict = target === undefined ? '' : ratio >= target ? `≥ ${target}× ✓` : `≥ ${target}× ✗`
      if (target !== undefined && ratio < target) missed++
      const shown = isOurs ? '—' : `${ratio.toFixed(2)}× (${(median(ours) / median(own)).toFixed(2)}×)`
      rows.push(`| ${scenario.name} | ${isOurs ? `**${name}**` : name} | ${fmt(median(own))} ${scenario.unit} | ${shown} | ${verdict} |`)
      chartRows.push({ scenario: scenario.name, variant: name, ours: isOurs, median: median(own), unit: scenario.unit, ...(isOurs ? {} : { ratio }) })
    }
    console.log(rows.slice(-names.length).join('\n'))
    // the per-round ratios behind each target's median: how noisy the machine was
    for (const name of Object.keys(scenario.targets ?? {})) {
      console.log(`  ${scenario.ours} ÷ ${name}, per round: ${ours.map((o, i) => `${(o / (samples[name]?.[i] as number)).toFixed(2)}×`).join(', ')}`)
    }
    const notes = run.notes?.() ?? []
    for (const note of notes) console.log(note)
    allNotes.push(...notes)
  }
} finally {
  await redis.stop()
}
console.log('\n| scenario | variant | median | ours ÷ this: per-round median (ratio of medians) | target |\n| --- | --- | --- | --- | --- |\n' + rows.join('\n'))
if (allNotes.length > 0) console.log('\n' + allNotes.map((note) => `- ${note}`).join('\n'))
const charts = writeCharts(chartRows, process.env.BENCH_CHARTS_DIR ?? fileURLToPath(new URL('../docs/img', import.meta.url)), `median of ${rounds} round${rounds === 1 ? '' : 's'} × ${ctx.durationMs} ms, ${new Date().toISOString().slice(0, 10)}; higher is better`)
if (charts.length > 0) console.log('\ncharts: ' + charts.join(', '))

if (only === undefined || 'outage'.includes(only)) {
  const o = await measureOutage()
  const within = (ms: number): string => ms <= o.deadlineMs + 50 ? '✓' : '✗'
  if (o.slowestCallDeadMs > o.deadlineMs + 50 || o.slowestCallHungMs > o.deadlineMs + 50) missed++
  if (o.slowestTwoCallRequestHungMs > o.deadlineMs + 50) missed++
  if (o.bootWhileDownMs > 3000) missed++
  if (o.healthyAfterRestartMs > 2000) missed++
  console.log(`
| outage (deadline ${o.deadlineMs} ms, ${o.callsPerPhase} calls a phase) | measured | target |
| --- | --- | --- |
| boot with Redis down | ${o.bootWhileDownMs.toFixed(0)} ms | ≤ 3000 ms ${o.bootWhileDownMs <= 3000 ? '✓' : '✗'} |
| slowest cache call, Redis dead | ${o.slowestCallDeadMs.toFixed(1)} ms | ≤ ${o.deadlineMs + 50} ms ${within(o.slowestCallDeadMs)} |
| slowest cache call, Redis hung (SIGSTOP) | ${o.slowestCallHungMs.toFixed(1)} ms | ≤ ${o.deadlineMs + 50} ms ${within(o.slowestCallHungMs)} |
| slowest of ${o.concurrentRequests} concurrent requests meeting two Redis calls (limiter + OAuth state), Redis hung | ${o.slowestTwoCallRequestHungMs.toFixed(1)} ms | ≤ ${o.deadlineMs + 50} ms ${within(o.slowestTwoCallRequestHungMs)} |
| /health healthy after Redis restarts | ${o.healthyAfterRestartMs.toFixed(0)} ms | ≤ 2000 ms ${o.healthyAfterRestartMs <= 2000 ? '✓' : '✗'} |`)
}
console.log(missed === 0 ? '\nall targets met' : `\n${missed} target(s) missed`)
