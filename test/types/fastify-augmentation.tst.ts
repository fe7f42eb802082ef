// What importing fastify-cachekit adds to Fastify's own types: one decorator
// per plugin on the instance, the rate-limit decision on the request.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { describe, expect, test } from 'tstyche'
import type { Authz, Cache, CacheMetrics, LimitState, OAuthStateStore, Result, SessionCache, TokenBucket } from '../../index.js'

const app = Fastify()

describe('FastifyInstance decorators', () => {
  test('each plugin decorates the instance with its object', () => {
    expect(app.cache).type.toBe<Cache>()
    expect(app.cacheMetrics).type.toBe<CacheMetrics>()
    expect(app.sessionCache).type.toBe<SessionCache>()
    expect(app.authz).type.toBe<Authz>()
    expect(app.oauthState).type.toBe<OAuthStateStore>()
    expect(app.tokenBucket).type.toBe<TokenBucket>()
  })

  test('the decorators are there on every FastifyInstance, however it was typed', () => {
    expect<FastifyInstance>().type.toHaveProperty('cache')
    expect<FastifyInstance>().type.toHaveProperty('tokenBucket')
    expect<FastifyInstance>().type.not.toHaveProperty('caches')
  })

  test('their methods keep their Result types', () => {
    expect(app.cache.get('k')).type.toBe<Promise<Result<string | null>>>()
    expect(app.cache.setMany({ a: '1' })).type.toBe<Promise<Result<true>>>()
    expect(app.authz.check('alice', 'accounts', 'read')).type.toBe<Promise<boolean>>()
  })

  test('a misspelt decorator or a wrong argument does not compile', () => {
    expect(app).type.not.toHaveProperty('sessionsCache')
    expect(app.cache.set).type.not.toBeCallableWith('k', 1)
    expect(app.cache.set('k', 1)).type.toRaiseError('not assignable to parameter of type \'string\'')
    expect(app.tokenBucket.take).type.not.toBeCallableWith('k')
  })
})

describe('FastifyRequest', () => {
  test('rateLimitDecision holds the decision of the request, or null', () => {
    expect<FastifyRequest['rateLimitDecision']>().type.toBe<LimitState | null>()
  })

  test('it is not a promise and not optional', () => {
    expect<FastifyRequest['rateLimitDecision']>().type.not.toBe<LimitState | null | undefined>()
    expect<FastifyRequest['rateLimitDecision']>().type.not.toBeAssignableTo<Promise<unknown>>()
  })
})
