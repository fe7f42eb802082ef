import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis, type RedisOptions } from 'ioredis'
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
  /** A plain client for the test's own checks (closed by stop), as the default (unrestricted) user. */
  client (): Redis
  stop (): Promise<void>
  /** With `tls`: the CA file that signed the server's certificate (rediss:// clients need it). */
  readonly tlsCaFile?: string
  /** With `user`: the unrestricted URL (the default user), for the test's own checks. */
  readonly adminUrl: string
}

/** A Redis ACL user the server is started with: `url` connects as it. */
export interface RedisAclUser {
  name: string
  password: string
  /** ACL rules after `on >password`, e.g. `['~app:*', '-@all', '+get']`. */
  rules: readonly string[]
}

export interface StartRedisOptions {
  /** Serve TLS only (`--tls-port`), with a CA and a server certificate made by openssl for this server. */
  tls?: boolean
  /** Also define this ACL user; `url` then connects as it, `client()` stays the default user. */
  user?: RedisAclUser
}

/** A throwaway CA and a server certificate for 127.0.0.1/localhost, made with openssl in a temporary folder. */
export function makeTlsFiles (): { dir: string, ca: string, cert: string, key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-tls-'))
  const file = (name: string): string => join(dir, name)
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    if (r.status !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${r.stderr?.toString() ?? r.error?.message ?? ''}`)
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=cachekit test CA'])
  run(['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost'])
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  run(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('san.ext')])
  return { dir, ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') }
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

async function waitForPing (url: string, timeoutMs = 5000, extra: RedisOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, ...extra })
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

export async function startRedis (extraArgs: string[] = [], options: StartRedisOptions = {}): Promise<TestRedis> {
  const clients: Redis[] = []
  const tls = options.tls === true && hasRedisServer() ? makeTlsFiles() : undefined
  const tlsOptions: RedisOptions = tls === undefined ? {} : { tls: { ca: readFileSync(tls.ca) } }
  const makeClient = (url: string): Redis => {
    const c = new Redis(url, { maxRetriesPerRequest: 1, ...tlsOptions })
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
      stop: async () => { closeClients() },
      adminUrl: url
    }
  }

  const port = await freePort()
  const scheme = tls === undefined ? 'redis' : 'rediss'
  const adminUrl = `${scheme}://127.0.0.1:${port}`
  const { user } = options
  const url = user === undefined ? adminUrl : `${scheme}://${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@127.0.0.1:${port}`
  const listen = tls === undefined
    ? ['--port', String(port)]
    : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no']
  const acl = user === undefined ? [] : ['--user', user.name, 'on', `>${user.password}`, ...user.rules]
  let proc: ChildProcess | undefined
  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...acl, ...extraArgs], { stdio: 'ignore' })
    await waitForPing(adminUrl, 5000, tlsOptions)
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
    flush: async () => { await makeClient(adminUrl).flushdb() },
    client: () => makeClient(adminUrl),
    stop: async () => {
      closeClients()
      await kill()
      if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true })
    },
    adminUrl,
    ...(tls === undefined ? {} : { tlsCaFile: tls.ca })
  }
}
