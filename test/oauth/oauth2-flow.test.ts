import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import oauthPlugin, { type OAuth2Namespace } from '@fastify/oauth2'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import t, { type Test } from 'tap'
import type { OAuth2StateFunctions } from '../../lib/oauth/oauth2-hooks.js'
import { OAuthStateStore } from '../../lib/oauth/state-store.js'
import { CacheError } from '../../lib/result.js'
import { cachekitApp, type AppBackend } from '../helpers/apps.js'
import { BACKENDS } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'

// The whole authorization-code flow through @fastify/oauth2 with our state
// functions, against a fake authorization server this test runs on loopback.

interface TokenRequest { code: string, redirectUri: string, verifier: string | undefined, clientAuth: string | undefined }

/** A minimal authorization server: /authorize redirects back with a code, /token trades a code once for a token. */
async function fakeAuthServer (): Promise<{ url: string, tokenRequests: TokenRequest[], close: () => Promise<void> }> {
  const codes = new Map<string, { redirectUri: string, challenge: string | null }>()
  const tokenRequests: TokenRequest[] = []
  const readBody = async (req: IncomingMessage): Promise<string> => {
    let body = ''
    for await (const chunk of req) body += String(chunk)
    return body
  }
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url as string, 'http://127.0.0.1')
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams
      if (q.get('response_type') !== 'code' || q.get('client_id') !== 'client-1' || q.get('state') === null) {
        res.writeHead(400).end('bad authorize request')
        return
      }
      const code = randomBytes(16).toString('hex')
      const redirectUri = q.get('redirect_uri') as string
      codes.set(code, { redirectUri, challenge: q.get('code_challenge') })
      const back = new URL(redirectUri)
      back.searchParams.set('code', code)
      back.searchParams.set('state', q.get('state') as string)
      res.writeHead(302, { location: back.toString() }).end()
      return
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      readBody(req).then((raw) => {
        const form = new URLSearchParams(raw)
        const request = { code: form.get('code') ?? '', redirectUri: form.get('redirect_uri') ?? '', verifier: form.get('code_verifier') ?? undefined, clientAuth: req.headers.authorization }
        tokenRequests.push(request)
        const issued = codes.get(request.code)
        codes.delete(request.code)
        const pkceOk = issued?.challenge === null || (request.verifier !== undefined && createHash('sha256').update(request.verifier).digest('base64url') === issued?.challenge)
        if (form.get('grant_type') !== 'authorization_code' || issued === undefined || issued.redirectUri !== request.redirectUri || !pkceOk) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }))
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `at-${request.code}`, token_type: 'Bearer', expires_in: 3600 }))
      }, () => { res.writeHead(500).end() })
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    tokenRequests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) })
  }
}

const CALLBACK = 'http://localhost/login/fake/callback'

/**
 * An app signing users in through `fake`: the user is whoever the `x-user`
 * header names (standing in for a session). @fastify/oauth2 builds the URLs,
 * keeps its PKCE verifier in a cookie and exchanges the code; the state is ours.
 */
async function appWithOAuth2 (t: Test, authUrl: string, backend: AppBackend): Promise<{ app: FastifyInstance, functions: OAuth2StateFunctions<FastifyRequest> }> {
  const app = await cachekitApp(t, backend, { oauthState: {} })
  const functions = app.oauthState.forOAuth2<FastifyRequest>({
    provider: 'fake',
    userId: (request) => request.headers['x-user'] as string | undefined,
    redirectUri: CALLBACK
  })
  await app.register(oauthPlugin, {
    name: 'fake',
    scope: ['profile'],
    credentials: {
      client: { id: 'client-1', secret: 'secret-1' },
      auth: { authorizeHost: authUrl, authorizePath: '/authorize', tokenHost: authUrl, tokenPath: '/token' }
    },
    callbackUri: CALLBACK,
    pkce: 'S256',
    generateStateFunction: functions.generateStateFunction,
    checkStateFunction: functions.checkStateFunction
  })
  const oauth = app.oauth2Fake as OAuth2Namespace
  // a CacheError other than bad input means the state could not be checked: 503, never a pass
  const statusOf = (err: unknown): number => err instanceof CacheError && err.code !== 'INVALID_ARGUMENT' ? 503 : 400

  app.get('/login/fake', async (request, reply) => {
    try {
      return await reply.redirect(await oauth.generateAuthorizationUri(request, reply))
    } catch (err) {
      return await reply.code(statusOf(err)).send({ error: (err as Error).message })
    }
  })
  app.get('/login/fake/callback', async (request, reply) => {
    try {
      const { token } = await oauth.getAccessTokenFromAuthorizationCodeFlow(request, reply)
      return { accessToken: token.access_token, state: functions.stateOf(request) }
    } catch (err) {
      return await reply.code(statusOf(err)).send({ error: (err as Error).message })
    }
  })
  return { app, functions }
}

/** The cookies a reply set, as a Cookie request header. */
const cookiesOf = (headers: Record<string, unknown>): string =>
  ([headers['set-cookie'] ?? []].flat() as string[]).map((c) => c.split(';')[0]).join('; ')

/** start → the authorize redirect → the callback URL the browser would follow, with its cookies. */
async function startFlow (app: FastifyInstance, user: string | undefined): Promise<{ authorizeUrl: URL, callbackUrl: URL, cookie: string }> {
  const started = await app.inject({ method: 'GET', url: '/login/fake', headers: user === undefined ? {} : { 'x-user': user } })
  if (started.statusCode !== 302) throw new Error(`start answered ${started.statusCode}: ${started.body}`)
  const authorizeUrl = new URL(started.headers.location as string)
  const authorized = await fetch(authorizeUrl, { redirect: 'manual' })
  if (authorized.status !== 302) throw new Error(`authorize answered ${authorized.status}`)
  return { authorizeUrl, callbackUrl: new URL(authorized.headers.get('location') as string), cookie: cookiesOf(started.headers) }
}

async function callback (app: FastifyInstance, flow: { callbackUrl: URL, cookie: string }, user: string | undefined): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await app.inject({
    method: 'GET',
    url: flow.callbackUrl.pathname + flow.callbackUrl.search,
    headers: { cookie: flow.cookie, ...(user === undefined ? {} : { 'x-user': user }) }
  })
  return { status: res.statusCode, json: res.json() }
}

for (const backend of BACKENDS) {
  t.test(`@fastify/oauth2 flow with our state functions: ${backend}`, async (t) => {
    const auth = await fakeAuthServer()
    t.teardown(auth.close)
    const { app, functions } = await appWithOAuth2(t, auth.url, backend)
    t.equal(app.cache.store.kind, backend)
    // @fastify/oauth2 reads `fn.length`: one parameter selects its promise form
    t.equal(functions.generateStateFunction.length, 1)
    t.equal(functions.checkStateFunction.length, 1)

    t.test('start → authorize → callback → token, and a replayed callback is refused', async (t) => {
      const flow = await startFlow(app, 'alice')
      const state = flow.authorizeUrl.searchParams.get('state')
      t.ok(OAuthStateStore.isWellFormed(state), 'our state is in the authorize URL')
      t.equal(flow.authorizeUrl.searchParams.get('code_challenge_method'), 'S256', "@fastify/oauth2's own PKCE rides along")
      t.equal(flow.callbackUrl.searchParams.get('state'), state, 'the provider sent it back')
      const key = app.oauthState.keyFor(state as string)
      t.same(await app.cache.store.exists((key as { value: string }).value), { ok: true, value: true }, 'stored in the shared store')

      const done = await callback(app, flow, 'alice')
      t.equal(done.status, 200, JSON.stringify(done.json))
      t.equal(done.json.accessToken, `at-${flow.callbackUrl.searchParams.get('code') as string}`)
      t.match(done.json.state, { userId: 'alice', provider: 'fake', redirectUri: CALLBACK })
      t.equal(auth.tokenRequests.length, 1, 'the code was exchanged once')
      t.match(auth.tokenRequests[0], { redirectUri: CALLBACK, clientAuth: /^Basic / })
      t.type(auth.tokenRequests[0].verifier, 'string', 'with the PKCE verifier')

      const replay = await callback(app, flow, 'alice')
      t.equal(replay.status, 400, 'replayed callback refused')
      t.match(replay.json.error, /Invalid state/)
      t.equal(auth.tokenRequests.length, 1, 'and the token endpoint was never asked again')
    })

    t.test('a callback for another user is refused before any token request', async (t) => {
      const before = auth.tokenRequests.length
      const flow = await startFlow(app, 'alice')
      t.equal((await callback(app, flow, 'mallory')).status, 400)
      t.equal((await callback(app, flow, 'alice')).status, 400, 'the state is burned')
      t.equal(auth.tokenRequests.length, before)
    })

    t.test('without a user at the callback the state alone decides, and names the user', async (t) => {
      const flow = await startFlow(app, 'bob')
      const done = await callback(app, flow, undefined)
      t.equal(done.status, 200)
      t.match(done.json.state, { userId: 'bob' })
    })

    t.test('a malformed or forged state is refused before any token request', async (t) => {
      const before = auth.tokenRequests.length
      const flow = await startFlow(app, 'alice')
      for (const forged of ['x', 'A'.repeat(43)]) {
        flow.callbackUrl.searchParams.set('state', forged)
        const res = await callback(app, flow, 'alice')
        t.equal(res.status, 400, forged)
      }
      flow.callbackUrl.searchParams.delete('state')
      t.equal((await callback(app, flow, 'alice')).status, 400, 'no state at all')
      t.equal(auth.tokenRequests.length, before)
    })

    t.test('no user, no state: start refuses', async (t) => {
      const res = await app.inject({ method: 'GET', url: '/login/fake' })
      t.equal(res.statusCode, 400)
      t.match(res.json().error, /userId/)
      t.equal(functions.stateOf({ query: {} } as FastifyRequest), undefined, 'nothing accepted for a request never checked')
    })
  })
}

t.test('with the store failing: start answers 503 and a callback is refused, never passed', async (t) => {
  const auth = await fakeAuthServer()
  t.teardown(auth.close)
  const { app } = await appWithOAuth2(t, auth.url, 'memory')
  const flow = await startFlow(app, 'alice')
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  const started = await app.inject({ method: 'GET', url: '/login/fake', headers: { 'x-user': 'alice' } })
  t.equal(started.statusCode, 503)
  const checked = await callback(app, flow, 'alice')
  t.equal(checked.status, 503, 'the state could not be checked: refused')
  t.equal(auth.tokenRequests.length, 0, 'no code exchanged')
})
