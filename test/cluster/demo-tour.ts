import type { FastifyInstance } from 'fastify'

/**
 * One pass over the demo's routes that touches every plugin: a session made,
 * read, listed and deleted; an OAuth state made and consumed once; an authz
 * decision; the rate limit enforced. Works over app.inject or over HTTP, so
 * the cluster, Sentinel and multi-process tests share it. Answers what went
 * wrong (empty when all is well).
 */

export interface Reply { status: number, body: any }
export type Send = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>

export function injector (app: FastifyInstance): Send {
  return async (method, url, body, headers) => {
    const r = await app.inject({ method: method as 'GET', url, ...(body !== undefined ? { payload: body as object } : {}), ...(headers !== undefined ? { headers } : {}) })
    return { status: r.statusCode, body: r.body === '' ? null : r.json() }
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
    return { status: r.status, body: text === '' ? null : JSON.parse(text) }
  }
}

export async function tour (send: Send, user: string, ip = '10.0.0.1'): Promise<string[]> {
  const wrong: string[] = []
  const from = { 'x-forwarded-for': ip }
  const expect = (what: string, got: Reply, status: number): void => {
    if (got.status !== status) wrong.push(`${what}: ${got.status} ${JSON.stringify(got.body)}`)
  }
  const made = await send('POST', '/sessions', { userId: user }, from)
  expect('POST /sessions', made, 201)
  const id = made.body?.id as string
  expect('GET /sessions/:id', await send('GET', `/sessions/${id}`, undefined, from), 200)
  const listed = await send('GET', `/users/${user}/sessions`, undefined, from)
  if (!(listed.body?.sessionIds ?? []).includes(id)) wrong.push(`the user index lacks ${id}: ${JSON.stringify(listed.body)}`)
  expect('DELETE /sessions/:id', await send('DELETE', `/sessions/${id}`, undefined, from), 204)
  expect('GET a deleted session', await send('GET', `/sessions/${id}`, undefined, from), 404)

  const started = await send('POST', '/oauth/demo/start', { userId: user }, from)
  expect('POST /oauth/demo/start', started, 201)
  const state = started.body?.state as string
  expect('the callback', await send('GET', `/oauth/demo/callback?code=c&state=${state}`, undefined, from), 200)
  expect('the callback again', await send('GET', `/oauth/demo/callback?code=c&state=${state}`, undefined, from), 400)

  const check = await send('POST', '/authz/check', { userId: 'bob', resource: 'accounts', action: 'read' }, from)
  if (check.body?.allowed !== true) wrong.push(`bob may read accounts: ${JSON.stringify(check.body)}`)
  const denied = await send('POST', '/authz/check', { userId: 'bob', resource: 'accounts', action: 'write' }, from)
  if (denied.body?.allowed !== false) wrong.push(`bob may not write accounts: ${JSON.stringify(denied.body)}`)

  // POST /sessions allows 5 a minute per IP: one made above, four more, then 429
  for (let i = 0; i < 4; i++) expect(`POST /sessions #${i + 2}`, await send('POST', '/sessions', { userId: user }, from), 201)
  expect('POST /sessions over the limit', await send('POST', '/sessions', { userId: user }, from), 429)
  return wrong
}
