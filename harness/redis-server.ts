import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { sleep } from './wait.js'

/**
 * Private redis-server processes for the tests and the bench: each on a free
 * port, so a test can kill, pause, restart and flush its own Redis without
 * touching anyone else's. Without a redis-server binary it falls back to
 * REDIS_URL (no kill/pause); with neither it fails with how to install Redis.
 */

export interface TestRedis {
  readonly url: string
  readonly port: number
  /** False when running against REDIS_URL: kill/pause/restart are unavailable. */
  readonly controllable: boolean
  /** SIGKILL: connections drop at once, as in a crash. */
  kill (): Promise<void>
  /** Starts it again on the same port (empty: persistence is off). */
  restart (): Promise<void>
  /** SIGSTOP: connections stay open but nothing answers, as in a hung server. */
  pause (): void
  resume (): void
  flush (): Promise<void>
  /** A plain client for the test's own checks (closed by stop). */
  client (): Redis
  stop (): Promise<void>
}

export function hasRedisServer (): boolean {
  return spawnSync('redis-server', ['--version']).status === 0
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}

async function waitForPing (url: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping()
      probe.disconnect()
      return
    } catch (err) {
      probe.disconnect()
      if (Date.now() > deadline) throw new Error(`redis at ${url} did not answer within ${timeoutMs} ms: ${(err as Error).message}`)
      await sleep(50)
    }
  }
}

export const INSTALL_ADVICE =
  'Redis is needed for the tests: install it (Debian/Ubuntu: `apt-get install -y redis-server`, macOS: `brew install redis`) ' +
  'so that `redis-server` is on PATH, or set REDIS_URL to a Redis the tests may flush.'

export async function startRedis (extraArgs: string[] = []): Promise<TestRedis> {
  const clients: Redis[] = []
  const makeClient = (url: string): Redis => {
    const c = new Redis(url, { maxRetriesPerRequest: 1 })
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  const closeClients = (): void => { for (const c of clients.splice(0)) c.disconnect() }

  if (!hasRedisServer()) {
    const url = process.env.REDIS_URL
    if (url === undefined || url === '') throw new Error(INSTALL_ADVICE)
    await waitForPing(url)
    const unavailable = (): never => { throw new Error('no redis-server binary: this test needs a private Redis it can stop') }
    return {
      url,
      port: Number(new URL(url).port || 6379),
      controllable: false,
      kill: async () => unavailable(),
      restart: async () => unavailable(),
      pause: unavailable,
      resume: unavailable,
      flush: async () => { await makeClient(url).flushdb() },
      client: () => makeClient(url),
      stop: async () => { closeClients() }
    }
  }

  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  let proc: ChildProcess | undefined
  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: 'ignore' })
    await waitForPing(url)
  }
  const kill = async (): Promise<void> => {
    const p = proc
    proc = undefined
    if (p === undefined || p.exitCode !== null) return
    const exited = new Promise((resolve) => p.once('exit', resolve))
    p.kill('SIGCONT')
    p.kill('SIGKILL')
    await exited
  }
  await launch()
  return {
    url,
    port,
    controllable: true,
    kill,
    restart: async () => { await kill(); await launch() },
    pause: () => { proc?.kill('SIGSTOP') },
    resume: () => { proc?.kill('SIGCONT') },
    flush: async () => { await makeClient(url).flushdb() },
    client: () => makeClient(url),
    stop: async () => { closeClients(); await kill() }
  }
}
