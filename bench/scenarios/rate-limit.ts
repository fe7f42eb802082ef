import { httpThroughput, median, startServer, type ChildServer, type Scenario } from '../harness.js'

/**
 * The token bucket as @fastify/rate-limit's store, against the anchors, each
 * in its own server process on the same route keyed by `/r/:client`.
 */

const KEYS = 1000
const paths = Array.from({ length: KEYS }, (_, i) => `/r/c${i}`)

async function servers (redisUrl: string, modes: Record<string, Record<string, string>>): Promise<Record<string, ChildServer>> {
  const out: Record<string, ChildServer> = {}
  for (const [name, env] of Object.entries(modes)) out[name] = await startServer('rate-limit', { REDIS_URL: redisUrl, ...env })
  return out
}

async function closeAll (list: Record<string, ChildServer>): Promise<void> {
  for (const server of Object.values(list)) await server.close()
}

/** Allowed traffic spread over 1,000 keys. */
export const rateLimitAllowed: Scenario = {
  name: 'rate limit: allowed, 1,000 keys',
  ours: 'token bucket (ours)',
  targets: { '@fastify/rate-limit redis': 1.10, 'rate-limiter-flexible redis': 1.0, 'route: one raw GET': 0.9 },
  unit: 'req/s',
  async setup (ctx) {
    const running = await servers(ctx.redisUrl, {
      'token bucket (ours)': { RL_MODE: 'ours' },
      '@fastify/rate-limit redis': { RL_MODE: 'fastify' },
      'rate-limiter-flexible redis': { RL_MODE: 'flexible' },
      'route: one raw GET': { RL_MODE: 'raw-get' }
    })
    const load = { durationMs: ctx.durationMs, connections: ctx.connections, paths, expectStatus: 200 }
    // latency too: batching the takes of one event-loop turn must not buy throughput with waiting
    const latencies: Record<string, Array<{ p50: number, p99: number }>> = {}
    return {
      variants: Object.fromEntries(Object.entries(running).map(([name, server]) => [name, async () => {
        const result = await httpThroughput({ ...load, url: server.url })
        ;(latencies[name] ??= []).push({ p50: result.p50, p99: result.p99 })
        return result.rps
      }])),
      close: async () => { await closeAll(running) },
      notes: () => Object.entries(latencies).map(([name, seen]) =>
        `latency ${name}: p50 ${median(seen.map((l) => l.p50))} ms, p99 ${median(seen.map((l) => l.p99))} ms (medians over rounds, ${ctx.connections} connections)`)
    }
  }
}

/**
 * One key far over its limit: refusals per second against the route that sends
 * the same 429 with no limiter at all (the floor for sending that response);
 * the route with no limiter (a 200) is shown for information.
 */
export const rateLimitAbusive: Scenario = {
  name: 'rate limit: one abusive key (refusals)',
  ours: 'token bucket refusals (ours)',
  targets: { 'route: a fixed 429, no limiter': 0.9 },
  unit: 'req/s',
  async setup (ctx) {
    const running = await servers(ctx.redisUrl, {
      'token bucket refusals (ours)': { RL_MODE: 'ours', RL_MAX: '1', RL_WINDOW_MS: '3600000' },
      '@fastify/rate-limit refusals': { RL_MODE: 'fastify', RL_MAX: '1', RL_WINDOW_MS: '3600000' },
      'route: no limiter': { RL_MODE: 'none' },
      'route: a fixed 429, no limiter': { RL_MODE: 'static-429' }
    })
    const load = { durationMs: ctx.durationMs, connections: ctx.connections, paths: ['/r/abuser'] }
    // the limiters and the fixed route answer 429; only the route with no limiter answers 200
    return {
      variants: Object.fromEntries(Object.entries(running).map(([name, server]) => [name, async () =>
        (await httpThroughput({ ...load, url: server.url, expectStatus: name === 'route: no limiter' ? 200 : 429 })).rps])),
      close: async () => { await closeAll(running) }
    }
  }
}
