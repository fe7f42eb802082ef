import { Type, type Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { checkOptions, WarnIntervalOptionSchema } from '../lib/options.js'
import { DEFAULT_REVOCATION_WINDOW, DEFAULT_SESSION_TTL, SessionCache } from '../lib/session/session-cache.js'

// This file is the `fastify-cachekit/session-cache` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export {
  SessionCache, DEFAULT_SESSION_TTL, DEFAULT_REVOCATION_WINDOW, isSessionId,
  type NewSession, type SessionCacheOptions, type SessionRecord, type SessionSetOptions, type SessionTouchOptions, type SetOutcome
} from '../lib/session/session-cache.js'
export { SessionSchema, SessionJsonSchema, SessionDetails, SessionData, type Session } from '../lib/session/schema.js'
export { FastifySessionStore, StoreRecordSchema, type FastifySessionStoreOptions, type StoreRecord, type StoreSession } from '../lib/session/store.js'
export { parseEncryptionKeys, type EncryptionKey } from '../lib/session/crypto.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Write-through session cache with a per-user index and revocation that holds. */
    sessionCache: SessionCache
  }
}

export const SessionCachePluginOptionsSchema = Type.Object({
  ttl: Type.Optional(Type.Number({ default: DEFAULT_SESSION_TTL, exclusiveMinimum: 0, description: 'seconds a session without expiresAt lives after createdAt, and the sliding window of touch() (SESSION_TTL_SECONDS)' })),
  revocationWindow: Type.Optional(Type.Number({ default: DEFAULT_REVOCATION_WINDOW, exclusiveMinimum: 0, description: 'seconds a revoked id stays refused: longer than any request may take between reading a session and writing it back' })),
  encryptionKeys: Type.Optional(Type.Array(Type.Object({
    id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
    key: Type.String({ minLength: 1, description: '32 bytes, base64' })
  }, { additionalProperties: false }), { description: 'encrypt values at rest (AES-256-GCM): the first key encrypts, all decrypt (SESSION_ENCRYPTION_KEYS)' })),
  warnIntervalMs: WarnIntervalOptionSchema
}, { additionalProperties: false })

export type SessionCachePluginOptions = Static<typeof SessionCachePluginOptionsSchema>

/**
 * Decorates `fastify.sessionCache` over the context of `cachekit-cache`
 * (`fastify.cache.context`: store, keys, metrics, log), and loads its scripts (a failure there is fine: EVALSHA
 * reloads on NOSCRIPT). It owns no connection, so nothing to close.
 */
export default fp<SessionCachePluginOptions>(async function cachekitSessionCache (fastify, options) {
  const opts = checkOptions(SessionCachePluginOptionsSchema, options, 'cachekit-session-cache')
  let cache: SessionCache
  try {
    cache = new SessionCache(fastify.cache.context.withWarnInterval(opts.warnIntervalMs), {
      ttl: opts.ttl,
      revocationWindow: opts.revocationWindow,
      encryptionKeys: opts.encryptionKeys
    })
  } catch (err) {
    throw new TypeError(`cachekit-session-cache: ${(err as Error).message}`)
  }
  await cache.loadScripts()
  fastify.decorate('sessionCache', cache)
}, {
  fastify: '5.x',
  name: 'cachekit-session-cache',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache'] }
})
