// Run: npx tsx examples/run.ts oauth-state            (embedded memory store)
//      REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/run.ts oauth-state
import Fastify from 'fastify'
import { cachePlugin, codeChallengeOf, oauthStatePlugin, unwrap } from '../index.js' // in your app: from 'fastify-cachekit'

export async function main (redisUrl = process.env.REDIS_URL): Promise<Record<string, unknown>> {
  const app = Fastify()
  await app.register(cachePlugin, redisUrl !== undefined && redisUrl !== '' ? { redisUrl, prefix: 'example' } : { prefix: 'example' })
  await app.register(oauthStatePlugin, { ttl: 600 })

  // start: a state bound to alice and the provider, with a PKCE verifier kept server-side
  // (unwrap throws when the store is down: a route answers 503 then, and never redirects without a state)
  const { state, expiresIn, codeChallenge } = unwrap(await app.oauthState.create({ userId: 'alice', provider: 'github', pkce: true }))

  // callback: the state is accepted once, for its own user and provider
  const first = unwrap(await app.oauthState.consume(state, { userId: 'alice', provider: 'github' }))
  const replay = await app.oauthState.consume(state, { userId: 'alice', provider: 'github' })
  const verifierMatches = codeChallengeOf(first?.codeVerifier as string) === codeChallenge

  // a state offered by another user is refused, and burned
  const other = unwrap(await app.oauthState.create({ userId: 'alice', provider: 'github' }))
  const stolen = await app.oauthState.consume(other.state, { userId: 'mallory' })
  const afterTheft = await app.oauthState.consume(other.state, { userId: 'alice' })

  // a malformed state never reaches Redis
  const malformed = await app.oauthState.consume('not-a-state')
  await app.close()
  return {
    stateLength: state.length,
    expiresIn,
    accepted: { userId: first?.userId, provider: first?.provider },
    verifierMatches,
    replay,
    stolen,
    afterTheft,
    malformed
  }
}
