import { isIP } from 'node:net'
import type { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { sleep } from '../../harness/wait.js'

/**
 * Steady traffic over every route family of the demo, for the chaos suite
 * (test/chaos/): bounded loops over loopback HTTP, each request recorded with
 * its status, latency and (for a 5xx) body, and the invariants that must hold
 * whatever Redis does checked as the answers arrive:
 * - a session (a signed-in cookie, POST /login) whose revocation answered
 *   (DELETE /me/sessions/:id 204, POST /logout 204, or log out everywhere,
 *   DELETE /me/sessions, 200) is never read again: GET /me/sessions with its
 *   cookie is never 200 after that;
 * - an OAuth state is accepted (200) at most once.
 */

export interface Sample { family: string, route: string, status: number, ms: number, at: number, body?: string }

export interface TrafficReport {
  samples: Sample[]
  revokedReadable: string[]
  statesAcceptedTwice: string[]
}

/** What a 503 may say: a stable code naming what is down, never a client library's text. */
export const CLIENT_LIBRARY_TEXT = /ioredis|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|Connection is closed|Command timed out|NOSCRIPT|ERR |WRONGTYPE|LOADING/

export class Traffic {
  readonly samples: Sample[] = []
  readonly revokedReadable: string[] = []
  readonly statesAcceptedTwice: string[] = []
  readonly #revoked = new Set<string>()
  readonly #base: string
  #running = true
  #loops: Array<Promise<void>> = []
  #ip = 0

  /** `workers` loops against the demo listening at `base` (http://127.0.0.1:port). */
  constructor (base: string, readonly workers = 6) {
    this.#base = base
  }

  start (): void {
    this.#loops = Array.from({ length: this.workers }, async (_v, w) => { await this.#loop(w) })
  }

  async stop (): Promise<TrafficReport> {
    this.#running = false
    await Promise.all(this.#loops)
    return { samples: this.samples, revokedReadable: this.revokedReadable, statesAcceptedTwice: this.statesAcceptedTwice }
  }

  /** A fresh client address per request (TRUST_PROXY is on), so the limiter's per-IP budgets rarely refuse the steady traffic. */
  #nextIp (): string {
    this.#ip++
    return `10.${(this.#ip >> 16) & 255}.${(this.#ip >> 8) & 255}.${this.#ip & 255}`
  }

  async send (family: string, method: string, path: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, json: Record<string, unknown> | null, cookie?: string }> {
    const started = performance.now()
    let status = 0
    let text = ''
    let cookie: string | undefined
    try {
      const res = await fetch(this.#base + path, {
        method,
        headers: { 'x-forwarded-for': this.#nextIp(), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000)
      })
      status = res.status
      cookie = sessionCookieOf(res)
      text = await res.text()
    } catch (err) {
      text = (err as Error).message
    }
    const ms = performance.now() - started
    this.samples.push({ family, route, status, ms, at: Date.now(), ...(status >= 500 || status === 0 ? { body: text } : {}) })
    let json: Record<string, unknown> | null = null
    try { json = JSON.parse(text) as Record<string, unknown> } catch { json = null }
    return { status, json, ...(cookie === undefined ? {} : { cookie }) }
  }

  async #loop (w: number): Promise<void> {
    let i = 0
    while (this.#running) {
      i++
      const family = ['sessions', 'authz', 'oauth', 'health', 'dashboard'][(w + i) % 5] as string
      if (family === 'sessions') await this.#sessions(w, i)
      else if (family === 'authz') await this.#authz(w, i)
      else if (family === 'oauth') await this.#oauth(w, i)
      else if (family === 'health') {
        await this.send('health', 'GET', '/health', 'GET /health')
        await this.send('health', 'GET', '/health/ready', 'GET /health/ready')
      } else {
        await this.send('dashboard', 'GET', '/dashboard/data', 'GET /dashboard/data')
        await this.send('dashboard', 'GET', '/cache/stats', 'GET /cache/stats')
      }
    }
  }

  /** GET /me/sessions with a session's cookie: the current session's handle when it answers 200. */
  async #read (cookie: string): Promise<string | undefined> {
    const read = await this.send('sessions', 'GET', '/me/sessions', 'GET /me/sessions', undefined, { cookie })
    if (read.status !== 200) return undefined
    if (this.#revoked.has(cookie)) this.revokedReadable.push(cookie)
    const sessions = (read.json?.sessions ?? []) as Array<{ id: string, current: boolean }>
    return sessions.find((s) => s.current)?.id
  }

  async #sessions (w: number, i: number): Promise<void> {
    // emails as user ids: they must enter keys hashed (the PII scan checks)
    const user = `user${w}-${i % 3}@example.com`
    const login = await this.send('sessions', 'POST', '/login', 'POST /login', { userId: user })
    const cookie = login.status === 201 ? login.cookie : undefined
    if (cookie === undefined) return
    const handle = await this.#read(cookie)
    if (i % 4 === 0) {
      const out = await this.send('sessions', 'DELETE', '/me/sessions', 'DELETE /me/sessions', undefined, { cookie })
      if (out.status === 200) this.#revoked.add(cookie)
    } else if (i % 4 === 2) {
      const out = await this.send('sessions', 'POST', '/logout', 'POST /logout', undefined, { cookie })
      if (out.status === 204) this.#revoked.add(cookie)
    } else if (handle !== undefined) {
      const deleted = await this.send('sessions', 'DELETE', `/me/sessions/${handle}`, 'DELETE /me/sessions/:id', undefined, { cookie })
      if (deleted.status === 204) this.#revoked.add(cookie)
    }
    await this.#read(cookie)
  }

  async #authz (w: number, i: number): Promise<void> {
    await this.send('authz', 'POST', '/authz/check', 'POST /authz/check', { userId: i % 2 === 0 ? 'bob' : `carol${w}@example.com`, resource: 'accounts', action: 'read' })
    await this.send('authz', 'GET', '/accounts/7', 'GET /accounts/:id', undefined, { 'x-user-id': 'bob' })
    if (i % 10 === 0) await this.send('authz', 'PUT', `/users/dave${w}/roles/user`, 'PUT /users/:userId/roles/:role')
  }

  async #oauth (w: number, i: number): Promise<void> {
    const started = await this.send('oauth', 'POST', '/oauth/demo/start', 'POST /oauth/:provider/start', { userId: `eve${w}-${i}@example.com` })
    const state = started.status === 201 ? started.json?.state as string : undefined
    if (state === undefined) return
    let accepted = 0
    for (let k = 0; k < 2; k++) {
      const back = await this.send('oauth', 'GET', `/oauth/demo/callback?code=c&state=${state}`, 'GET /oauth/:provider/callback')
      if (back.status === 200) accepted++
    }
    if (accepted > 1) this.statesAcceptedTwice.push(state)
  }
}

/** The demo's session cookie in a response (`sessionId=<signed id>`, as a browser sends it back), if it sets one. */
export function sessionCookieOf (res: Response): string | undefined {
  const set = res.headers.getSetCookie().find((c) => c.startsWith('sessionId='))
  return set?.split(';')[0]
}

/** The address a listening Fastify app answers on. */
export function baseUrl (app: FastifyInstance): string {
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return `http://127.0.0.1:${port}`
}

/** p-th percentile (0–100) of `values`, 0 when empty. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/**
 * Milliseconds from `since` until the demo serves from Redis again: /health
 * healthy, and a sign-in (POST /login) whose cookie then reads GET /me/sessions. Polls every 20 ms, up to `maxMs`
 * (then returns Infinity).
 */
let probes = 0
/** A client address used once: the probes never meet their own rate limit. */
export function probeIp (): string {
  probes++
  return `172.16.${(probes >> 8) & 255}.${probes & 255}`
}

export async function recoveryMs (base: string, since: number, maxMs = 5000): Promise<number> {
  for (;;) {
    const elapsed = performance.now() - since
    if (elapsed > maxMs) return Infinity
    try {
      const health = await (await fetch(`${base}/health`)).json() as { status: string }
      if (health.status === 'healthy') {
        const login = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': probeIp() }, body: JSON.stringify({ userId: 'probe' }) })
        const cookie = sessionCookieOf(login)
        if (login.status === 201 && cookie !== undefined) {
          if ((await fetch(`${base}/me/sessions`, { headers: { 'x-forwarded-for': probeIp(), cookie } })).status === 200) return performance.now() - since
        }
      }
    } catch {}
    await sleep(20)
  }
}

const EMAIL = /[^\s@]+@[^\s@]+\.[A-Za-z]{2,}/
const IPV4_INSIDE = /(?:^|[^\d.])(?:\d{1,3}\.){3}\d{1,3}(?:$|[^\d.])/

/** Every key of a Redis that holds an email or an IP address in clear, in any of its (escaped) parts. */
export async function personalDataInKeys (client: Redis): Promise<{ keys: number, emails: string[], ips: string[] }> {
  const emails: string[] = []
  const ips: string[] = []
  let keys = 0
  let cursor = '0'
  do {
    const [next, found] = await client.scan(cursor, 'COUNT', 1000) as [string, string[]]
    cursor = next
    for (const key of found) {
      keys++
      const parts = key.split(':').map((part) => part.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))))
      if (parts.some((part) => EMAIL.test(part))) emails.push(key)
      if (parts.some((part) => isIP(part) !== 0 || IPV4_INSIDE.test(part))) ips.push(key)
    }
  } while (cursor !== '0')
  return { keys, emails, ips }
}
