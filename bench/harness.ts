import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { redisClientOptions, type RedisClientOptions } from '../lib/store/redis-client.js'
import { RedisStore } from '../lib/store/redis-store.js'

/**
 * The pieces every benchmark scenario uses: in-process throughput loops, HTTP
 * load with autocannon against a server in a child process (so load generator
 * and server do not share an event loop), and the scenario contract run.ts
 * drives: every variant, ours and the anchors, measured in the same run,
 * interleaved round by round.
 */

export interface BenchContext {
  /** A private Redis started by run.ts for this run. */
  redisUrl: string
  durationMs: number
  connections: number
}

export interface ScenarioRun {
  /** Each variant measures once and answers operations per second. */
  variants: Record<string, () => Promise<number>>
  close (): Promise<void>
  /** Lines printed under the scenario's rows (e.g. latencies seen while measuring). */
  notes?: () => string[]
}

export interface Scenario {
  name: string
  /** The variant that is ours; ratios are ours ÷ each other variant. */
  ours: string
  /** Minimum ratio ours ÷ anchor that the issue asks for, by anchor name. */
  targets?: Record<string, number>
  /** What one operation is, for the table ("req/s", "ops/s"). */
  unit: string
  setup (ctx: BenchContext): Promise<ScenarioRun>
}

/** Runs `op` with `concurrency` calls in flight for `durationMs`; answers ops/s. */
export async function loopThroughput (op: () => Promise<unknown>, options: { durationMs: number, concurrency: number }): Promise<number> {
  let done = 0
  const stopAt = performance.now() + options.durationMs
  const worker = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      await op()
      done++
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return done / ((performance.now() - started) / 1000)
}

export interface HttpLoad {
  url: string
  durationMs: number
  connections: number
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  headers?: Record<string, string>
  body?: string
  /** Cycles through these request paths (relative to url). */
  paths?: string[]
  /** Counted as successful; others are reported. Default: any 2xx. */
  expectStatus?: number
}

export interface HttpResult {
  rps: number
  /** Latency percentiles in ms. */
  p50: number
  p99: number
  statuses: Record<string, number>
  errors: number
}

/** autocannon against an already listening server. */
export async function httpThroughput (load: HttpLoad): Promise<HttpResult> {
  const requests = load.paths?.map((path) => ({ method: load.method ?? 'GET', path, headers: load.headers, body: load.body }))
  const result = await autocannon({
    url: load.url,
    connections: load.connections,
    duration: load.durationMs / 1000,
    method: load.method ?? 'GET',
    headers: load.headers,
    body: load.body,
    requests,
    pipelining: 1
  })
  const statuses: Record<string, number> = {}
  for (const [code, count] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = (count as { count: number }).count
  const total = Object.values(statuses).reduce((a, b) => a + b, 0)
  const wanted = load.expectStatus === undefined
    ? Object.entries(statuses).filter(([code]) => code.startsWith('2')).reduce((a, [, n]) => a + n, 0)
    : statuses[String(load.expectStatus)] ?? 0
  const seconds = load.durationMs / 1000
  return {
    rps: (load.expectStatus === undefined && wanted === 0 ? total : wanted) / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses,
    errors: result.errors + result.timeouts
  }
}

export interface ChildServer {
  url: string
  close (): Promise<void>
}

/**
 * Starts `bench/servers/<name>.ts` in a child process; the child listens on a
 * free port and prints `listening <url>` on stdout.
 */
export async function startServer (name: string, env: Record<string, string>): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', new URL(`./servers/${name}.ts`, import.meta.url).pathname], {
    env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => { reject(new Error(`bench server ${name} exited with ${String(code)}`)) })
    lines.on('line', (line) => { if (line.startsWith('listening ')) resolve(line.slice('listening '.length)) })
  })
  return {
    url,
    close: async () => {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  }
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * For in-process scenarios: a client made as the plugins make theirs, connected,
 * and a RedisStore over it, so ours and the raw-client anchors share one client.
 */
export async function benchStore (redisUrl: string, options: RedisClientOptions = {}): Promise<{ client: Redis, store: RedisStore }> {
  const client = new Redis(redisUrl, redisClientOptions(options))
  await client.connect()
  return { client, store: new RedisStore({ client, prefix: 'cachekit' }) }
}
