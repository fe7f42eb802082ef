import { connect } from 'node:net'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { errorProblem, validationDetail } from '../../demo/http.js'
import { demoApp } from '../helpers/demo.js'

// The demo's HTTP edges: every 4xx names the field and the rule, unknown
// properties and wrong types are refused (never stripped or coerced), a wrong
// method on a known path is a 405 with Allow, and a request that never
// finishes arriving does not hold its connection.

interface Answer { status: number, type: string, allow: string | undefined, json: Record<string, unknown> }

async function ask (app: FastifyInstance, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as string }), headers })
  return { status: res.statusCode, type: String(res.headers['content-type']), allow: res.headers.allow as string | undefined, json: res.json() }
}

t.test('bodies: unknown properties refused and named, no type coercion, every 400 names the field and the rule', async (t) => {
  const app = await demoApp(t, 'memory')

  const extra = await ask(app, 'POST', '/oauth/demo/start', { userId: 'a', admin: true })
  t.equal(extra.status, 400, 'an unknown property is not silently stripped')
  t.match(extra.type, /application\/problem\+json/)
  t.match(extra.json, { code: 'INVALID_ARGUMENT', detail: /body\.admin: is not a known property/ })

  const number = await ask(app, 'POST', '/oauth/demo/start', { userId: 123 })
  t.equal(number.status, 400, 'a number is not turned into a user id')
  t.match(number.json, { code: 'INVALID_ARGUMENT', detail: /body\.userId: must be string/ })

  t.match((await ask(app, 'POST', '/oauth/demo/start', {})).json, { code: 'INVALID_ARGUMENT', detail: 'body.userId: is required' })
  t.match((await ask(app, 'POST', '/oauth/demo/start', { userId: '' })).json, { detail: /body\.userId: must NOT have fewer than 1 characters/ })
  t.match((await ask(app, 'POST', '/authz/check', { userId: 'a', resource: 'r', action: 'read', extra: 1 })).json, { detail: /body\.extra: is not a known property/ })
  t.match((await ask(app, 'POST', '/authz/check', { userId: true, resource: 'r', action: 'read' })).json, { detail: /body\.userId: must be string/ })
  t.match((await ask(app, 'POST', '/login', { userId: 'a', admin: true })).json, { status: 400, detail: /body\.admin: is not a known property/ }, 'every route, not only ours')
  t.match((await ask(app, 'POST', '/login', { userId: 42 })).json, { status: 400, detail: /body\.userId: must be string/ })

  const missing = await ask(app, 'GET', '/oauth/demo/callback?code=1')
  t.equal(missing.status, 400, 'OAuth 400s name the field too')
  t.match(missing.json, { code: 'INVALID_ARGUMENT', detail: 'querystring.state: is required' })
  t.match((await ask(app, 'GET', '/oauth/demo/callback?code=1&state=x&admin=1')).json, { status: 400, detail: /querystring\.admin: is not a known property/ })
  t.match((await ask(app, 'GET', '/health?verbose=1')).json, { status: 400, detail: 'querystring.verbose: is not a known property (unknown properties are refused)' }, 'routes without input refuse a query')
  t.match((await ask(app, 'GET', '/dashboard/data?x=1')).json, { status: 400, detail: /querystring\.x/ })
  t.match((await ask(app, 'GET', '/accounts/1?admin=1', undefined, { 'x-user-id': 'bob' })).json, { status: 400, detail: /querystring\.admin/ })
  t.match((await ask(app, 'PUT', '/users/a/roles/bad%20role')).json, { status: 400, detail: /params\.role: must match pattern/ })
})

t.test('validation details: every broken field with its rule, whatever ajv gives', async (t) => {
  t.equal(validationDetail('body', [
    { instancePath: '/a/b', keyword: 'type', message: 'must be string', params: {} },
    { instancePath: '', keyword: 'custom', params: {} }
  ]), 'body.a.b: must be string; body: custom', 'the keyword when ajv gives no message')
  const err = Object.assign(new Error('bad'), { validation: [{ instancePath: '/x', keyword: 'required', message: 'x', params: { missingProperty: 'y' } }] })
  t.match(errorProblem(err as never, '/u'), { status: 400, detail: 'request.x.y: is required' }, 'no validation context: "request"')
})

t.test('bodies that are not what the route parses: named, with the right status', async (t) => {
  const app = await demoApp(t, 'memory')
  const json = { 'content-type': 'application/json' }
  t.match(await ask(app, 'POST', '/oauth/demo/start', '{"userId":', json), { status: 400, json: { code: 'INVALID_ARGUMENT', detail: /^body: must be valid JSON/ } })
  t.match(await ask(app, 'POST', '/oauth/demo/start', '', json), { status: 400, json: { code: 'INVALID_ARGUMENT', detail: /^body: must not be empty/ } })
  t.match(await ask(app, 'POST', '/oauth/demo/start', 'userId=a', { 'content-type': 'application/x-www-form-urlencoded' }),
    { status: 415, json: { code: 'UNSUPPORTED_MEDIA_TYPE', detail: /^content-type: / } })
  t.match(await ask(app, 'POST', '/oauth/demo/start', '{"__proto__":{"x":1},"userId":"a"}', json), { status: 400, json: { code: 'INVALID_ARGUMENT', detail: /^body: .*__proto__/ } }, 'prototype poisoning')
  t.match(await ask(app, 'POST', '/oauth/demo/start', JSON.stringify({ userId: 'a'.repeat(1_100_000) }), json),
    { status: 413, json: { code: 'PAYLOAD_TOO_LARGE', detail: /^body: / } })
  t.match(await ask(app, 'GET', '/%zz'), { status: 400, json: { code: 'INVALID_ARGUMENT', detail: /^url: / } })
})

t.test('405 with Allow for a wrong method on a known path; 404 problem elsewhere', async (t) => {
  const app = await demoApp(t, 'memory')
  const wrong = await ask(app, 'GET', '/oauth/demo/start')
  t.equal(wrong.status, 405)
  t.equal(wrong.allow, 'POST')
  t.match(wrong.json, { code: 'METHOD_NOT_ALLOWED', detail: /method: GET is not allowed on \/oauth\/demo\/start; allowed: POST/ })
  t.match(await ask(app, 'DELETE', '/health/live'), { status: 405, allow: 'GET, HEAD' })
  t.match(await ask(app, 'POST', '/users/u1/roles/admin'), { status: 405, allow: 'DELETE, PUT' })
  t.match(await ask(app, 'PATCH', '/login'), { status: 405, allow: 'POST' }, 'routes of every plugin')
  t.match(await ask(app, 'POST', '/health/live/'), { status: 405 }, 'a trailing slash is the same path')
  const none = await ask(app, 'GET', '/no/such/path?x=1')
  t.equal(none.status, 404)
  t.equal(none.allow, undefined)
  t.match(none.json, { code: 'NOT_FOUND', detail: 'url: no route answers GET /no/such/path' })
})

t.test('errors the app does not expect: a fixed 500 body, and an outage 503 without the error\'s text', async (t) => {
  const app = await demoApp(t, 'memory')
  app.get('/test/bug', async () => { throw new Error('secret internals: connect ECONNREFUSED 10.0.0.7:6379') })
  app.get('/test/outage', async () => { throw Object.assign(new Error("Stream isn't writeable and enableOfflineQueue options is false"), { statusCode: 503 }) })
  app.get('/test/coded', async () => { throw Object.assign(new Error('ioredis text'), { statusCode: 503, code: 'CACHE_UNAVAILABLE' }) })
  app.get('/test/teapot', async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418 }) })
  const bug = await ask(app, 'GET', '/test/bug')
  t.same(bug.json, { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'The server failed to answer.', instance: '/test/bug', code: 'INTERNAL' })
  const outage = await ask(app, 'GET', '/test/outage')
  t.match(outage, { status: 503, json: { code: 'UNAVAILABLE', detail: 'The service is unavailable; try again later.' } })
  t.notMatch(JSON.stringify(outage.json), /Stream|enableOfflineQueue/)
  t.match(await ask(app, 'GET', '/test/coded'), { status: 503, json: { code: 'CACHE_UNAVAILABLE' } }, 'a 503 code of ours is kept')
  t.match(await ask(app, 'GET', '/test/teapot'), { status: 418, json: { message: 'short and stout' } }, 'other 4xx keep Fastify\'s own answer (the limiter\'s 429 is one)')
})

t.test('timeouts: a request whose body never arrives does not hold its connection', async (t) => {
  const app = await demoApp(t, 'memory', { HTTP_REQUEST_TIMEOUT_MS: '300', HTTP_CONNECTION_TIMEOUT_MS: '5000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '4000' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.equal(app.server.requestTimeout, 300)
  t.equal(app.server.keepAliveTimeout, 4000)
  t.equal(app.server.timeout, 5000)
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let got = ''
    // bounded: a server that never closes fails the test instead of hanging it
    const guard = setTimeout(() => { socket.destroy(); reject(new Error('the server held the connection')) }, 10_000)
    socket.on('data', (chunk) => { got += chunk.toString() })
    socket.on('close', () => { clearTimeout(guard); resolve(got) })
    socket.on('error', () => {})
    socket.write('POST /oauth/demo/start HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"user')
  })
  t.match(answer, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout, then closed')
})

t.test('the defaults', async (t) => {
  const app = await demoApp(t, 'memory')
  t.equal(app.config.HTTP_REQUEST_TIMEOUT_MS, 10_000)
  t.equal(app.config.HTTP_CONNECTION_TIMEOUT_MS, 75_000)
  t.equal(app.config.HTTP_KEEP_ALIVE_TIMEOUT_MS, 72_000)
  t.equal(app.server.requestTimeout, 10_000)
})
