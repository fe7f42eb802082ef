import { buildApp } from '../demo/app.js'
import { startRedis } from '../harness/redis-server.js'
import { sleep } from '../harness/wait.js'

/**
 * What a Redis outage costs the demo app, measured (not asserted: tests check
 * behaviour, this reports figures): boot time with Redis down, the slowest
 * cache call while Redis is dead or hung against the command deadline, and how
 * long after Redis is back /health turns healthy.
 */

export interface OutageFigures {
  deadlineMs: number
  bootWhileDownMs: number
  slowestCallDeadMs: number
  slowestCallHungMs: number
  healthyAfterRestartMs: number
  callsPerPhase: number
  /** The slowest of `concurrentRequests` requests that each meet the limiter and the state store while Redis hangs. */
  slowestTwoCallRequestHungMs: number
  concurrentRequests: number
}

/** The slowest of `n` concurrent `POST /oauth/demo/start` (a limiter take, then a state write): two Redis calls each. */
async function slowestTwoCallRequest (app: Awaited<ReturnType<typeof buildApp>>, n: number): Promise<number> {
  const times = await Promise.all(Array.from({ length: n }, async (_v, i) => {
    const started = performance.now()
    const res = await app.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: `u${i}` }, remoteAddress: `10.0.0.${i + 1}` })
    if (res.statusCode !== 503) throw new Error(`expected 503 while Redis hangs, got ${res.statusCode}`)
    return performance.now() - started
  }))
  return Math.max(...times)
}

async function slowestCall (call: () => Promise<{ ok: boolean }>, n: number): Promise<number> {
  let slowest = 0
  for (let i = 0; i < n; i++) {
    const started = performance.now()
    const r = await call()
    if (r.ok) throw new Error('a cache call succeeded while Redis was down')
    slowest = Math.max(slowest, performance.now() - started)
  }
  return slowest
}

export async function measureOutage (calls = 200): Promise<OutageFigures> {
  const redis = await startRedis()
  const deadlineMs = 250
  try {
    await redis.kill()
    let started = performance.now()
    const app = await buildApp({ REDIS_URL: redis.url, LOG_LEVEL: 'silent', CACHE_COMMAND_TIMEOUT_MS: String(deadlineMs) })
    await app.ready()
    const bootWhileDownMs = performance.now() - started
    try {
      const health = (await app.inject('/health')).json()
      if (health.status !== 'degraded') throw new Error(`expected degraded, got ${JSON.stringify(health)}`)
      const slowestCallDeadMs = await slowestCall(() => app.cache.get('bench:k'), calls)

      await redis.restart()
      started = performance.now()
      while ((await app.inject('/health')).json().status !== 'healthy') await sleep(10)
      const healthyAfterRestartMs = performance.now() - started

      redis.pause()
      const slowestCallHungMs = await slowestCall(() => app.cache.get('bench:k'), calls)
      redis.resume()

      // a request that meets two Redis calls in an outage, before the breaker opens, costs one deadline
      while ((await app.inject('/health')).json().status !== 'healthy') await sleep(10)
      const concurrentRequests = 20
      redis.pause()
      const slowestTwoCallRequestHungMs = await slowestTwoCallRequest(app, concurrentRequests)
      redis.resume()
      return { deadlineMs, bootWhileDownMs, slowestCallDeadMs, slowestCallHungMs, healthyAfterRestartMs, callsPerPhase: calls, slowestTwoCallRequestHungMs, concurrentRequests }
    } finally {
      await app.close()
    }
  } finally {
    await redis.stop()
  }
}
