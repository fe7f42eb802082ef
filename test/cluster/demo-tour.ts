import type { FastifyInstance } from 'fastify'

/**
 * One pass over the demo's routes that touches every plugin: a sign-in
 * (POST /login, a session cookie) listed by GET /me/sessions and revoked by its
 * handle, then refused; log out everywhere (DELETE /me/sessions) ending every
 * other browser of the user; an OAuth state made and consumed once; an authz
 * decision; the rate limit of POST /login enforced. Works over app.inject or
 * over HTTP, so the cluster, Sentinel and multi-process tests share it.
 * Answers what went wrong (empty when all is well).
 */

/** `cookie`: the session cookie the reply set, as a browser sends it back (`sessionId=…`). */
export interface Reply { status: number, body: any, cookie?: string }
export type Send = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>

export function injector (app: FastifyInstance): Send {
  return async (method, url, body, headers) => {
    const r = await app.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}), ...(headers !== undefined ? { headers } : {}) })
    const setCookie = r.headers['set-cookie']
    const cookie = sessionCookie(Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie])
    return { status: r.statusCode, body: r.body === '' ? null : r.json(), ...(cookie === undefined ? {} : { cookie }) }
  }
}

export function httpSender (base: string): Send {
  return async (method, url, body, headers) => {
    const r = await fetch(base + url, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await r.text()
    const cookie = sessionCookie(r.headers.getSetCookie())
    return { status: r.status, body: text === '' ? null : JSON.parse(text), ...(cookie === undefined ? {} : { cookie }) }
  }
}

/** The demo's session cookie among Set-Cookie headers, as a browser sends it back. */
function sessionCookie (setCookies: string[]): string | undefined {
  return setCookies.find((c) => c.startsWith('sessionId='))?.split(';')[0]
}

export async function tour (send: Send, user: string, ip = '10.0.0.1'): Promise<string[]> {
  const wrong: string[] = []
  const from = { 'x-forwarded-for': ip }
  const expect = (what: string, got: Reply, status: number): void => {
    if (got.status !== status) wrong.push(`${what}: ${got.status} ${JSON.stringify(got.body)}`)
  }
  const as = (cookie: string | undefined): Record<string, string> => ({ ...from, cookie: cookie ?? '' })
  const made = await send('POST', '/login', { userId: user }, from)
  expect('POST /login', made, 201)
  if (made.cookie === undefined) wrong.push('POST /login set no session cookie')
  const listed = await send('GET', '/me/sessions', undefined, as(made.cookie))
  expect('GET /me/sessions', listed, 200)
  const mine = ((listed.body?.sessions ?? []) as Array<{ id: string, current: boolean }>).find((s) => s.current)
  if (listed.body?.userId !== user || mine === undefined) wrong.push(`the user index lacks this session: ${JSON.stringify(listed.body)}`)
  expect('DELETE /me/sessions/:id', await send('DELETE', `/me/sessions/${mine?.id ?? 'none'}`, undefined, as(made.cookie)), 204)
  expect('GET /me/sessions with a revoked cookie', await send('GET', '/me/sessions', undefined, as(made.cookie)), 401)

  const started = await send('POST', '/oauth/demo/start', { userId: user }, from)
  expect('POST /oauth/demo/start', started, 201)
  const state = started.body?.state as string
  expect('the callback', await send('GET', `/oauth/demo/callback?code=c&state=${state}`, undefined, from), 200)
  expect('the callback again', await send('GET', `/oauth/demo/callback?code=c&state=${state}`, undefined, from), 400)

  const check = await send('POST', '/authz/check', { userId: 'bob', resource: 'accounts', action: 'read' }, from)
  if (check.body?.allowed !== true) wrong.push(`bob may read accounts: ${JSON.stringify(check.body)}`)
  const denied = await send('POST', '/authz/check', { userId: 'bob', resource: 'accounts', action: 'write' }, from)
  if (denied.body?.allowed !== false) wrong.push(`bob may not write accounts: ${JSON.stringify(denied.body)}`)

  // POST /login allows 5 a minute per IP: one made above, four more (four browsers of the user), then 429
  const browsers: Array<string | undefined> = []
  for (let i = 0; i < 4; i++) {
    const login = await send('POST', '/login', { userId: user }, from)
    expect(`POST /login #${i + 2}`, login, 201)
    browsers.push(login.cookie)
  }
  expect('POST /login over the limit', await send('POST', '/login', { userId: user }, from), 429)
  // log out everywhere from one browser: every other one is signed out at its next request
  const everywhere = await send('DELETE', '/me/sessions', undefined, as(browsers[0]))
  expect('DELETE /me/sessions', everywhere, 200)
  if (everywhere.body?.deleted !== 4) wrong.push(`log out everywhere revoked 4 sessions: ${JSON.stringify(everywhere.body)}`)
  for (const [i, cookie] of browsers.entries()) expect(`GET /me/sessions, browser #${i + 2} after log out everywhere`, await send('GET', '/me/sessions', undefined, as(cookie)), 401)
  return wrong
}
