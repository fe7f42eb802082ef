import { Type, type Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { DEFAULT_STATE_TTL_SECONDS, MAX_STATE_TTL_SECONDS, OAuthStateStore } from '../lib/oauth/state-store.js'
import { checkOptions, WarnIntervalOptionSchema } from '../lib/options.js'

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
  warnIntervalMs: WarnIntervalOptionSchema
}, { additionalProperties: false })

export type OAuthStatePluginOptions = Static<typeof OAuthStatePluginOptionsSchema>

/**
 * Decorates `fastify.oauthState` over the context of `cachekit-cache`
 * (`fastify.cache.context`: store, keys, metrics, log). It owns nothing (GETDEL needs no script), so nothing to close.
 */
export default fp<OAuthStatePluginOptions>(async function cachekitOAuthState (fastify, options) {
  const opts = checkOptions(OAuthStatePluginOptionsSchema, options, 'cachekit-oauth-state')
  fastify.decorate('oauthState', new OAuthStateStore(fastify.cache.context.withWarnInterval(opts.warnIntervalMs), { ttl: opts.ttl }))
}, {
  fastify: '5.x',
  name: 'cachekit-oauth-state',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache'] }
})
