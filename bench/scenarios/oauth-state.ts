import { createHash, randomBytes } from 'node:crypto'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { OAuthStateStore } from '../../lib/oauth/state-store.js'
import { benchStore, loopThroughput, type Scenario } from '../harness.js'

/**
 * One OAuth round trip per operation: issue a state, then accept it once.
 * Ours (`create` + `consume` with PKCE: validation, HMAC'd key, JSON, SET PX +
 * GETDEL through the breaker) against the same work by hand on the same
 * client: a random token and verifier (`randomBytes` each), the S256 challenge,
 * `SET PX` of the same JSON, `GETDEL`. The issue sets no target.
 */
export const oauthStateRoundTrip: Scenario = {
  name: 'oauth state create+consume in-process',
  ours: 'oauthState create+consume',
  unit: 'flows/s',
  async setup (ctx) {
    const { client, store } = await benchStore(ctx.redisUrl)
    const states = new OAuthStateStore(new ComponentContext({ store, keys: new KeyBuilder() }))
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    const ours = async (): Promise<void> => {
      const created = await states.create({ userId: 'user-42', provider: 'demo', pkce: true })
      if (!created.ok) throw created.error
      const consumed = await states.consume(created.value.state, { userId: 'user-42', provider: 'demo' })
      if (!consumed.ok || consumed.value === null) throw new Error('state not accepted')
    }
    const raw = async (): Promise<void> => {
      const state = randomBytes(32).toString('base64url')
      const codeVerifier = randomBytes(32).toString('base64url')
      createHash('sha256').update(codeVerifier).digest('base64url') // the S256 challenge for the authorize URL
      const data = JSON.stringify({ userId: 'user-42', provider: 'demo', codeVerifier, createdAt: Date.now() })
      await client.set(`cachekit:bench-oauth:${state}`, data, 'PX', 600_000)
      if (await client.getdel(`cachekit:bench-oauth:${state}`) === null) throw new Error('state not accepted')
    }
    return {
      variants: {
        'oauthState create+consume': async () => await loopThroughput(ours, options),
        'ioredis set+getdel': async () => await loopThroughput(raw, options)
      },
      close: async () => { client.disconnect() }
    }
  }
}
