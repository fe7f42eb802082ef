'use strict'

// The adapter that runs @fastify/rate-limit's own test suite against this
// package's rate-limit plugin (scripts/peer-rate-limit.sh puts it in place of
// the suite's index.js). It registers the cache plugin once per app, then our
// plugin with the options the test gave @fastify/rate-limit.
// CACHEKIT_REPO: this repository. RL_STORE: memory | redis | orig (the suite's
// own plugin, kept as index.orig.js). RL_REDIS_PORT: the private Redis.

const path = require('node:path')
const fp = require('fastify-plugin')

const store = process.env.RL_STORE ?? 'memory'
if (store === 'orig') {
  module.exports = require('./index.orig.js')
} else {
  const repo = process.env.CACHEKIT_REPO
  if (repo === undefined) throw new Error('CACHEKIT_REPO is not set: run scripts/peer-rate-limit.sh')
  const redisUrl = `redis://127.0.0.1:${process.env.RL_REDIS_PORT}`
  // apps given the same client share a prefix (the suite shares a client to share buckets); others get their own
  const prefixes = new WeakMap()
  let apps = 0
  const fresh = () => `peer${process.pid}x${++apps}`

  const adapter = async function cachekitAdapter (fastify, options) {
    const { cachePlugin } = await import(path.join(repo, 'index.ts'))
    const { default: rateLimitPlugin } = await import(path.join(repo, 'plugins/rate-limit.ts'))
    const { redis, ...rest } = options
    if (!fastify.hasDecorator('cache')) {
      if (redis !== undefined) {
        if (!prefixes.has(redis)) prefixes.set(redis, fresh())
        await fastify.register(cachePlugin, { client: redis, prefix: prefixes.get(redis) })
      } else if (store === 'redis') {
        await fastify.register(cachePlugin, { redisUrl, prefix: fresh() })
      } else {
        await fastify.register(cachePlugin, { store: 'memory' })
      }
    }
    await fastify.register(rateLimitPlugin, { ...adapterOptions(), ...rest })
  }

  // RL_OPTIONS: JSON merged under the test's options (e.g. {"clock":"process"})
  const adapterOptions = () => process.env.RL_OPTIONS ? JSON.parse(process.env.RL_OPTIONS) : {}

  module.exports = fp(adapter, { fastify: '5.x', name: '@fastify/rate-limit' })
  module.exports.default = module.exports
  module.exports.fastifyRateLimit = module.exports
  // the suite tests its IP folding on its own: ours gives the same text
  module.exports.normalizeIP = (ip, subnet) => require(path.join(repo, 'lib/rate-limit/identity.ts')).foldIp(ip, subnet)
}
