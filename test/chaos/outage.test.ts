import { writeFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { TestRedis } from '../../harness/redis-server.js'
import { sleep } from '../../harness/wait.js'
import { ownRedis } from '../helpers/backends.js'
import { baseUrl, CLIENT_LIBRARY_TEXT, percentile, personalDataInKeys, probeIp, recoveryMs, Traffic } from '../helpers/chaos.js'
import { demoApp } from '../helpers/demo.js'
import { LogCapture } from '../helpers/log-capture.js'
import { PROBLEM_CODES } from '../../lib/problem.js'

// The chaos suite: the demo under steady traffic to every route family while
// Redis is killed and restarted, hung (SIGSTOP), paused (CLIENT PAUSE), loses
// its scripts (SCRIPT FLUSH) or its data (FLUSHALL), and with the demo started
// while Redis is down. Each scenario: no 5xx but 503s with a stable code and no
// client-library text; every request within the deadline plus a stated margin;
// serving from Redis again within 2 s of Redis being back; the limiter
// enforcing again; no revoked session readable; no OAuth state accepted twice;
// a bounded number of log lines, none at error level.
// Loopback only, bounded loops, short phases: about 4 s a scenario.

/** The Redis command deadline of the demo under test. */
const DEADLINE_MS = 200
/**
 * The stated margin: a request may take one deadline (its request budget makes
 * later Redis calls fail fast) plus this, for the event loop of a process
 * sharing two cores with its load generator and Redis.
 */
const MARGIN_MS = 400
/** Warnings per scenario: the throttle allows one per topic and code per 10 s. */
const MAX_LOG_LINES = 40
const RECOVERY_MS = 2000
const WARM_MS = 400
const FAULT_MS = 1200
const AFTER_MS = 400

export interface ScenarioFigures {
  scenario: string
  requests: number
  byStatus: Record<string, number>
  unavailable: Record<string, number>
  p50Ms: number
  p99Ms: number
  maxMs: number
  recoveryMs: number
  logLines: number
  errorLines: number
  limiterEnforcing: boolean
  revokedReadable: number
  statesAcceptedTwice: number
  keysScanned: number
  keysWithEmail: number
  keysWithIp: number
}

const figures: ScenarioFigures[] = []

interface Scenario {
  /** Break Redis (the traffic is running). */
  fault: (redis: TestRedis) => Promise<void>
  /** Bring it back; resolves when Redis is back (the recovery clock starts). */
  back: (redis: TestRedis) => Promise<void>
  /** Redis is down before the demo starts. */
  downAtStart?: boolean
  env?: Record<string, string>
  /** 503 codes the scenario must show (besides: every 503 code is a documented one). */
  expect503?: string[]
}

/** The documented 503 codes (lib/problem.ts). */
const CODES_503 = new Set(Object.entries(PROBLEM_CODES).filter(([, p]) => p.status === 503).map(([code]) => code))

async function run (t: Test, name: string, scenario: Scenario): Promise<void> {
  const redis = await ownRedis(t)
  const logs = new LogCapture()
  if (scenario.downAtStart === true) await scenario.fault(redis)
  const app = await demoApp(t, redis, {
    CACHE_COMMAND_TIMEOUT_MS: String(DEADLINE_MS),
    TRUST_PROXY: 'true',
    CACHE_KEY_HASH_SECRET: 'chaos-secret-chaos-secret-chaos-secret',
    PUBLIC_BASE_URL: 'https://app.example.com',
    ...scenario.env
  }, { logger: { level: 'warn', stream: logs.stream } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = baseUrl(app)
  // the boot's own lines (a degraded start) are not the traffic's
  const bootLines = logs.lines.length

  const traffic = new Traffic(base)
  const startedAt = Date.now()
  traffic.start()
  if (scenario.downAtStart !== true) {
    await sleep(WARM_MS)
    await scenario.fault(redis)
  }
  const faultAt = Date.now() - startedAt
  await sleep(FAULT_MS)
  await scenario.back(redis)
  const backAt = performance.now()
  const backAtMs = Date.now() - startedAt
  const recovered = await recoveryMs(base, backAt)
  await sleep(AFTER_MS)
  const report = await traffic.stop()

  // the limiter enforces again: one fresh client, six logins against a limit of 5 a minute
  const ip = probeIp()
  const logins: number[] = []
  for (let i = 0; i < 6; i++) {
    logins.push((await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ userId: 'limited' }) })).status)
  }
  const enforcing = logins.slice(0, 5).every((s) => s === 201) && logins[5] === 429
  // every key this scenario left: no email, no IP in clear
  const pii = await personalDataInKeys(redis.client())

  const samples = report.samples
  const byStatus: Record<string, number> = {}
  for (const s of samples) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1
  const unavailable: Record<string, number> = {}
  const bad5xx: string[] = []
  for (const s of samples) {
    if (s.status === 503) {
      let code = 'unparsed'
      try { code = String((JSON.parse(s.body ?? '') as { code?: string }).code) } catch {}
      unavailable[code] = (unavailable[code] ?? 0) + 1
      if (!CODES_503.has(code) || CLIENT_LIBRARY_TEXT.test(s.body ?? '')) bad5xx.push(`${s.route} 503 ${s.body ?? ''}`)
    } else if (s.status >= 500 || s.status === 0) bad5xx.push(`${s.route} ${s.status} ${s.body ?? ''}`)
  }
  const ms = samples.map((s) => s.ms)
  const lines = logs.lines.slice(bootLines)
  const f: ScenarioFigures = {
    scenario: name,
    requests: samples.length,
    byStatus,
    unavailable,
    p50Ms: Math.round(percentile(ms, 50)),
    p99Ms: Math.round(percentile(ms, 99)),
    maxMs: Math.round(Math.max(...ms)),
    recoveryMs: Math.round(recovered),
    logLines: lines.length,
    errorLines: lines.filter((l) => l.level >= 50).length,
    limiterEnforcing: enforcing,
    revokedReadable: report.revokedReadable.length,
    statesAcceptedTwice: report.statesAcceptedTwice.length,
    keysScanned: pii.keys,
    keysWithEmail: pii.emails.length,
    keysWithIp: pii.ips.length
  }
  figures.push(f)
  t.comment(JSON.stringify(f))
  // the slowest requests, when (ms since the traffic started) and what they met: evidence for the latency bound
  const slowest = [...samples].sort((a, b) => b.ms - a.ms).slice(0, 5)
  t.comment(`fault at ${faultAt} ms, back at ${backAtMs} ms; slowest (ended at, ms after the traffic started): ${slowest.map((s) => `${s.route} ${s.status} ${Math.round(s.ms)} ms at ${s.at - startedAt}`).join('; ')}`)

  t.ok(samples.length > 100, `steady traffic (${samples.length} requests)`)
  t.same(bad5xx.slice(0, 5), [], 'no 5xx but 503s with a documented code and no client-library text')
  for (const code of scenario.expect503 ?? []) t.ok((unavailable[code] ?? 0) > 0, `503s with code ${code} (${JSON.stringify(unavailable)})`)
  t.ok(f.maxMs <= DEADLINE_MS + MARGIN_MS, `every request within the deadline + ${MARGIN_MS} ms (max ${f.maxMs} ms, p99 ${f.p99Ms} ms)`)
  t.ok(recovered <= RECOVERY_MS, `serving from Redis again ${f.recoveryMs} ms after Redis is back (≤ ${RECOVERY_MS})`)
  t.ok(enforcing, `the limiter enforces again (${logins.join(' ')})`)
  t.same(report.revokedReadable, [], 'no revoked session readable')
  t.same(report.statesAcceptedTwice, [], 'no OAuth state accepted twice')
  t.ok(f.logLines <= MAX_LOG_LINES, `bounded log lines (${f.logLines} ≤ ${MAX_LOG_LINES})`)
  t.equal(f.errorLines, 0, 'nothing logged at error level: Redis being down is not our bug')
  t.same(pii.emails.slice(0, 3), [], `no key holds an email in clear (${pii.keys} keys scanned)`)
  t.same(pii.ips.filter((key) => !key.includes(':ratelimit:')).slice(0, 3), [], 'no key outside the rate limiter\'s holds an IP in clear')
  t.same(pii.ips.slice(0, 3), [], 'no key holds an IP in clear')
}

const admin = (redis: TestRedis): ReturnType<TestRedis['client']> => redis.client()

t.test('Redis killed, then restarted', async (t) => {
  await run(t, 'kill + restart', {
    fault: async (redis) => { await redis.kill() },
    back: async (redis) => { await redis.restart() }
  })
})

t.test('Redis hung (SIGSTOP), then resumed', async (t) => {
  await run(t, 'SIGSTOP', {
    fault: async (redis) => { redis.pause() },
    back: async (redis) => { redis.resume() }
  })
})

t.test('CLIENT PAUSE ALL', async (t) => {
  await run(t, 'CLIENT PAUSE', {
    fault: async (redis) => { await admin(redis).call('CLIENT', 'PAUSE', String(FAULT_MS), 'ALL') },
    // the pause ends by itself after FAULT_MS, which run() has just waited
    back: async () => {}
  })
})

t.test('SCRIPT FLUSH', async (t) => {
  await run(t, 'SCRIPT FLUSH', {
    fault: async (redis) => { await admin(redis).script('FLUSH') },
    back: async () => {}
  })
})

t.test('FLUSHALL', async (t) => {
  await run(t, 'FLUSHALL', {
    fault: async (redis) => { await admin(redis).flushall() },
    back: async () => {}
  })
})

t.test('the demo started while Redis is down', async (t) => {
  await run(t, 'started with Redis down', {
    downAtStart: true,
    fault: async (redis) => { await redis.kill() },
    back: async (redis) => { await redis.restart() }
  })
})

t.test('Redis killed, with the limiter failing closed', async (t) => {
  await run(t, 'kill + restart, RATE_LIMIT_ON_STORE_ERROR=closed', {
    env: { RATE_LIMIT_ON_STORE_ERROR: 'closed' },
    // the limited routes' refusals come from the rate-limit plugin, as problem details
    expect503: ['RATE_LIMIT_UNAVAILABLE'],
    fault: async (redis) => { await redis.kill() },
    back: async (redis) => { await redis.restart() }
  })
})

t.teardown(() => {
  if (process.env.CHAOS_REPORT !== undefined) writeFileSync(process.env.CHAOS_REPORT, JSON.stringify(figures, null, 2) + '\n')
})
