// Our extras in @fastify/rate-limit's own option types: `cost`, `onStoreError`
// and `bucket` are accepted wherever its options are (createRateLimit(),
// rateLimit(), a route's config.rateLimit), with their own types.
import type { CreateRateLimitOptions, RateLimitOptions } from '@fastify/rate-limit'
import Fastify from 'fastify'
import { describe, expect, test } from 'tstyche'
import type { FailPolicy } from '../../index.js'

const app = Fastify()

describe('CreateRateLimitOptions and RateLimitOptions', () => {
  test('carry our extras with their types', () => {
    expect<CreateRateLimitOptions['cost']>().type.toBe<number | undefined>()
    expect<CreateRateLimitOptions['onStoreError']>().type.toBe<FailPolicy | undefined>()
    expect<CreateRateLimitOptions['bucket']>().type.toBe<string | undefined>()
    expect<RateLimitOptions>().type.toBeAssignableFrom({ max: 5, timeWindow: 60_000, cost: 2, onStoreError: 'local' as const, bucket: 'uploads' })
  })
})

describe('createRateLimit() and rateLimit()', () => {
  test('accept our extras', () => {
    expect(app.createRateLimit).type.toBeCallableWith({ max: 10, timeWindow: 1000, cost: 2, onStoreError: 'closed', bucket: 'login' })
    expect(app.rateLimit).type.toBeCallableWith({ max: 10, timeWindow: 1000, cost: 0, onStoreError: 'open' })
  })

  test('refuse a wrong type or an unknown policy', () => {
    expect(app.createRateLimit({ onStoreError: 'maybe' })).type.toRaiseError('"maybe"')
    expect(app.createRateLimit({ cost: '2' })).type.toRaiseError('not assignable to type \'number\'')
    expect(app.createRateLimit({ bucket: 7 })).type.toRaiseError('not assignable to type \'string\'')
    expect(app.rateLimit).type.not.toBeCallableWith({ costs: 2 })
  })
})

describe('a route\'s config.rateLimit', () => {
  test('accepts our extras, or false', () => {
    expect(app.get).type.toBeCallableWith('/upload', { config: { rateLimit: { max: 10, timeWindow: 60_000, cost: 5, bucket: 'uploads', onStoreError: 'local' } } }, async () => 'ok')
    expect(app.get).type.toBeCallableWith('/health', { config: { rateLimit: false } }, async () => 'ok')
  })

  test('refuses a wrong type', () => {
    expect(app.get('/x', { config: { rateLimit: { cost: 'five' } } }, async () => 'ok')).type.toRaiseError('not assignable to type \'number\'')
    expect(app.get('/x', { config: { rateLimit: { onStoreError: 'fail' } } }, async () => 'ok')).type.toRaiseError('"fail"')
  })
})
