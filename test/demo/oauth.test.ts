import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { OAuthProviderRegistry } from '../../demo/oauth-providers.js'
import { OAuthStateStore } from '../../lib/oauth/state-store.js'
import oauthRoutes from '../../routes/oauth.js'
import { sleep } from '../../harness/wait.js'
import { cachekitApp } from '../helpers/apps.js'
import { BACKENDS } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'
import { faultyStore } from '../helpers/faulty-store.js'

// The demo's OAuth routes, on Redis and on the memory store, and over a registry
// of providers of our own.

async function start (app: FastifyInstance, provider: string, body: object): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url: `/oauth/${provider}/start`, payload: body })
  return { status: res.statusCode, json: res.json() }
}

async function callback (app: FastifyInstance, provider: string, query: Record<string, string>): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url: `/oauth/${provider}/callback`, query })
  return { status: res.statusCode, json: res.json() }
}

for (const name of BACKENDS) {
  t.test(`demo OAuth routes: ${name}`, async (t) => {
    const app = await demoApp(t, name)
    t.equal(app.cache.store.kind, name)
    t.equal(app.oauthState.ttl, 600, 'OAUTH_STATE_TTL_SECONDS default')

    t.test('start answers 201 with an authorize URL carrying the state and a PKCE challenge', async (t) => {
      const { status, json } = await start(app, 'demo', { userId: 'alice' })
      t.equal(status, 201)
      t.equal(json.expiresIn, 600)
      t.ok(OAuthStateStore.isWellFormed(json.state))
      const url = new URL(json.authorizationUrl as string)
      t.equal(url.origin + url.pathname, 'https://auth.example.com/oauth/authorize')
      t.equal(url.searchParams.get('state'), json.state)
      t.equal(url.searchParams.get('response_type'), 'code')
      t.equal(url.searchParams.get('client_id'), 'cachekit-demo')
      t.equal(url.searchParams.get('scope'), 'openid profile')
      t.equal(url.searchParams.get('redirect_uri'), 'http://127.0.0.1:3000/oauth/demo/callback', 'from HOST and PORT when PUBLIC_BASE_URL is unset')
      t.match(url.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
      t.equal(url.searchParams.get('code_challenge_method'), 'S256')
    })

    t.test('callback answers 200 with the bound user and provider, once', async (t) => {
      const started = await start(app, 'demo', { userId: 'alice', alias: 'work' })
      const state = started.json.state as string
      t.same(await callback(app, 'demo', { code: 'c0de', state }), { status: 200, json: { userId: 'alice', provider: 'demo', alias: 'work', pkce: true } })
      const replay = await callback(app, 'demo', { code: 'c0de', state })
      t.equal(replay.status, 400, 'a replayed callback is refused')
      t.match(replay.json, { code: 'INVALID_ARGUMENT', detail: /already used/ })
    })

    t.test('400 for a missing or malformed state, or bad start input', async (t) => {
      t.equal((await callback(app, 'demo', { code: 'c0de' })).status, 400, 'missing state')
      const malformed = await callback(app, 'demo', { code: 'c0de', state: 'not-a-state' })
      t.equal(malformed.status, 400, 'malformed state')
      t.match(malformed.json, { code: 'INVALID_ARGUMENT', detail: /43-character/ })
      t.equal((await callback(app, 'demo', { code: 'c0de', state: 'A'.repeat(43) })).status, 400, 'well-formed but unknown')
      t.equal((await start(app, 'demo', {})).status, 400, 'no userId')
      const control = await start(app, 'demo', { userId: 'a\u0001b' })
      t.equal(control.status, 400, 'control characters in userId')
      t.match(control.json, { code: 'INVALID_ARGUMENT', detail: /userId/ })
    })

    t.test('404 for an unknown provider', async (t) => {
      const s = await start(app, 'nope', { userId: 'alice' })
      t.equal(s.status, 404)
      t.match(s.json, { status: 404, code: 'NOT_FOUND', detail: /unknown OAuth provider "nope"; known: demo/, instance: '/oauth/nope/start' })
      t.equal((await callback(app, 'nope', { code: 'c0de', state: 'A'.repeat(43) })).status, 404)
    })
  })
}

t.test('the redirect URI never comes from Host or X-Forwarded-Host unless the proxy is trusted', async (t) => {
  const redirectOf = async (app: FastifyInstance, headers: Record<string, string>): Promise<string | null> => {
    const res = await app.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: 'alice' }, headers })
    t.equal(res.statusCode, 201)
    return new URL(res.json().authorizationUrl as string).searchParams.get('redirect_uri')
  }
  const forged = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }

  const plain = await demoApp(t, 'memory')
  t.equal(await redirectOf(plain, forged), 'http://127.0.0.1:3000/oauth/demo/callback', 'a forged Host is ignored')
  const state = (await plain.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: 'alice' }, headers: forged })).json().state as string
  const consumed = await plain.oauthState.consume(state, { provider: 'demo' })
  t.equal(consumed.ok && consumed.value?.redirectUri, 'http://127.0.0.1:3000/oauth/demo/callback', 'and the stored redirect URI is the configured one')

  const configured = await demoApp(t, 'memory', { PUBLIC_BASE_URL: 'https://app.example.com/base/' })
  t.equal(await redirectOf(configured, forged), 'https://app.example.com/base/oauth/demo/callback', 'PUBLIC_BASE_URL wins')

  const proxied = await demoApp(t, 'memory', { PUBLIC_BASE_URL: 'https://app.example.com', TRUST_PROXY: 'true' })
  t.equal(await redirectOf(proxied, forged), 'https://app.example.com/oauth/demo/callback', 'PUBLIC_BASE_URL wins even behind a trusted proxy')

  const trusted = await demoApp(t, 'memory', { TRUST_PROXY: 'true' })
  t.equal(await redirectOf(trusted, { 'x-forwarded-host': 'app.example.net', 'x-forwarded-proto': 'https' }), 'https://app.example.net/oauth/demo/callback',
    'behind a trusted proxy without PUBLIC_BASE_URL, the forwarded host is used')

  await t.rejects(demoApp(t, 'memory', { PUBLIC_BASE_URL: 'javascript:alert(1)' }), /PUBLIC_BASE_URL/, 'a base URL that is not http(s) is refused at start-up')
  t.equal(await redirectOf(await demoApp(t, 'memory', { HOST: '0.0.0.0', PORT: '8080' }), forged), 'http://localhost:8080/oauth/demo/callback', 'a wildcard HOST: localhost')
  t.equal(await redirectOf(await demoApp(t, 'memory', { HOST: '::1' }), forged), 'http://[::1]:3000/oauth/demo/callback', 'an IPv6 HOST in brackets')
})

t.test('with the store failing: start answers 503 and callback refuses with 503', async (t) => {
  const app = await demoApp(t, 'memory')
  const started = await start(app, 'demo', { userId: 'alice' })
  t.equal(started.status, 201)
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  const again = await start(app, 'demo', { userId: 'alice' })
  t.equal(again.status, 503, 'no state handed out')
  t.same(again.json, {
    type: 'about:blank',
    title: 'Service Unavailable',
    status: 503,
    detail: 'The OAuth state store is unavailable; try again later.',
    instance: '/oauth/demo/start',
    code: 'OAUTH_STATE_UNAVAILABLE'
  }, 'a fixed sentence and a stable code, never the Redis client\'s message')
  const checked = await callback(app, 'demo', { code: 'c0de', state: started.json.state as string })
  t.equal(checked.status, 503, 'a state that cannot be checked is refused')
  t.match(checked.json, { code: 'OAUTH_STATE_UNAVAILABLE', detail: 'The OAuth state store is unavailable; try again later.' })
})

/** A bare server with the plugin and the routes over a registry of our own. */
async function customApp (t: Test, ttl: number): Promise<FastifyInstance> {
  const app = await cachekitApp(t, 'memory', { oauthState: { ttl } })
  await app.register(oauthRoutes, {
    publicBaseUrl: 'https://app.example.org',
    providers: new OAuthProviderRegistry([
      { name: 'demo', authorizeUrl: 'https://a.example/authorize', clientId: 'a', scope: ['x'], pkce: true },
      { name: 'plain', authorizeUrl: 'https://b.example/authorize?tenant=t1', clientId: 'b', scope: [], pkce: false }
    ])
  })
  return app
}

t.test('routes over a custom registry: no-PKCE provider, provider binding, expiry', async (t) => {
  const app = await customApp(t, 0.15)

  const plain = await start(app, 'plain', { userId: 'bob' })
  t.equal(plain.status, 201)
  const url = new URL(plain.json.authorizationUrl as string)
  t.equal(url.searchParams.get('tenant'), 't1', 'the provider URL keeps its own query')
  t.equal(url.searchParams.get('code_challenge'), null, 'no PKCE for this provider')
  t.same(await callback(app, 'plain', { code: 'c', state: plain.json.state as string }), { status: 200, json: { userId: 'bob', provider: 'plain', pkce: false } })

  const forDemo = await start(app, 'demo', { userId: 'bob' })
  t.equal((await callback(app, 'plain', { code: 'c', state: forDemo.json.state as string })).status, 400, "another provider's state is refused")
  t.equal((await callback(app, 'demo', { code: 'c', state: forDemo.json.state as string })).status, 400, 'and stays burned')

  const expiring = await start(app, 'demo', { userId: 'bob' })
  t.equal(expiring.json.expiresIn, 0.15)
  await sleep(250)
  t.equal((await callback(app, 'demo', { code: 'c', state: expiring.json.state as string })).status, 400, 'an expired state is refused')
})

t.test('routes options: a provider\'s own redirectUri wins; a base URL or a trusted proxy is required', async (t) => {
  const app = await cachekitApp(t, 'memory', { oauthState: {} })
  await app.register(oauthRoutes, {
    publicBaseUrl: 'https://app.example.org/',
    providers: new OAuthProviderRegistry([
      { name: 'fixed', authorizeUrl: 'https://a.example/authorize', clientId: 'a', scope: [], pkce: false, redirectUri: 'https://cb.example.org/done' },
      { name: 'based', authorizeUrl: 'https://a.example/authorize', clientId: 'a', scope: [], pkce: false }
    ])
  })
  const uriOf = async (provider: string): Promise<string | null> =>
    new URL((await start(app, provider, { userId: 'bob' })).json.authorizationUrl as string).searchParams.get('redirect_uri')
  t.equal(await uriOf('fixed'), 'https://cb.example.org/done')
  t.equal(await uriOf('based'), 'https://app.example.org/oauth/based/callback', 'one slash between base and path')

  const providers = new OAuthProviderRegistry([])
  const bare = await cachekitApp(t, 'memory')
  await t.rejects(async () => { await bare.register(oauthRoutes, { providers }) }, /set publicBaseUrl/)
  const bad = await cachekitApp(t, 'memory')
  await t.rejects(async () => { await bad.register(oauthRoutes, { providers, publicBaseUrl: 'ftp://x' }) }, /publicBaseUrl must be an absolute http\(s\) URL/)
})
