import { Type, type Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { DEFAULT_STATE_TTL_SECONDS, MAX_STATE_TTL_SECONDS, OAuthStateStore } from '../lib/oauth/state-store.js'
import { checkOptions } from '../lib/options.js'

// This file is the `fastify-cachekit/oauth-state` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export { OAuthStateStore, DEFAULT_STATE_TTL_SECONDS, MAX_STATE_TTL_SECONDS, type OAuthStateStoreOptions } from '../lib/oauth/state-store.js'
export type { StateData, CreateStateInput, CreatedState, ConsumeOptions, OAuthStates } from '../lib/oauth/contracts.js'
export type { OAuthRequest, OAuth2StateOptions, OAuth2StateFunctions } from '../lib/oauth/oauth2-hooks.js'
export { codeChallengeOf, createCodeVerifier } from '../lib/oauth/pkce.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** One-time OAuth state tokens (+ PKCE verifier); `forOAuth2()` plugs them into @fastify/oauth2. */
    oauthState: OAuthStateStore
  }
}

export const OAuthStatePluginOptionsSchema = Type.Object({
  ttl: Type.Optional(Type.Number({ default: DEFAULT_STATE_TTL_SECONDS, exclusiveMinimum: 0, maximum: MAX_STATE_TTL_SECONDS, description: 'lifetime of a state in seconds (OAUTH_STATE_TTL_SECONDS)' })),
  warnIntervalMs: Type.Optional(Type.Integer({ default: 10_000, minimum: 0 }))
}, { additionalProperties: false })

export type OAuthStatePluginOptions = Static<typeof OAuthStatePluginOptionsSchema>

/**
 * Decorates `fastify.oauthState` over the shared store and key builder of
 * `cachekit-cache`. It owns nothing (GETDEL needs no script), so nothing to close.
 */
export default fp<OAuthStatePluginOptions>(async function cachekitOAuthState (fastify, options) {
  const opts = checkOptions(OAuthStatePluginOptionsSchema, options, 'cachekit-oauth-state') as Required<OAuthStatePluginOptions>
  fastify.decorate('oauthState', new OAuthStateStore({
    store: fastify.cache.store,
    keys: fastify.cache.keys,
    ttl: opts.ttl,
    metrics: fastify.cacheMetrics,
    logger: fastify.log,
    warnIntervalMs: opts.warnIntervalMs
  }))
}, {
  fastify: '5.x',
  name: 'cachekit-oauth-state',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache', 'cacheMetrics'] }
})
