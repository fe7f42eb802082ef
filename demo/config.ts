import { Type, type Static } from '@sinclair/typebox'
import { DEFAULT_PREFIX, NAME_PATTERN } from '../lib/keys.js'
import { REDIS_URL_OR_EMPTY_PATTERN } from '../lib/store/redis-client.js'
import { FailPolicySchema } from '../plugins/rate-limit/options.js'

/**
 * Every environment variable the demo server reads, with its default and
 * bounds. Validated at start-up (by @fastify/env in app.ts): a bad value stops
 * the server with a message naming the variable. `.env.example` mirrors this.
 */

const DAY = 24 * 60 * 60

const HOST_PORTS_OR_EMPTY_PATTERN = '^(|[^,:]+:[0-9]{1,5}(,[^,:]+:[0-9]{1,5})*)$'

const seconds = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

export const EnvSchema = Type.Object({
  REDIS_URL: Type.String({ default: '', pattern: REDIS_URL_OR_EMPTY_PATTERN, description: 'Redis to use; unset means the embedded in-memory store' }),
  REDIS_TLS_CA_FILE: Type.String({ default: '', description: 'PEM file of the CA that signed the Redis server certificate (rediss:// URLs); empty = Node\'s trusted CAs' }),
  CACHE_KEY_PREFIX: Type.String({ default: DEFAULT_PREFIX, pattern: NAME_PATTERN, description: 'First segment of every key' }),
  CACHE_KEY_HASH_SECRET: Type.String({ default: '', description: 'Secret for hashing personal identifiers in keys; instances sharing a Redis must share it' }),
  CACHE_COMMAND_TIMEOUT_MS: Type.Integer({ default: 250, minimum: 10, maximum: 10_000, description: 'Deadline of every Redis command' }),
  CACHE_DEFAULT_TTL_SECONDS: seconds(300, 1, 30 * DAY, 'TTL of cache-aside entries when a call gives none'),
  SESSION_TTL_SECONDS: seconds(30 * DAY, 60, 90 * DAY, 'Session lifetime when a session has no expiresAt'),
  SESSION_ENCRYPTION_KEYS: Type.String({ default: '', pattern: '^(|[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_=-]+(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_=-]+)*)$', description: 'Encrypt sessions at rest: id:base64key[,id:base64key…] (32-byte keys; the first encrypts, all decrypt); empty = off' }),
  AUTHZ_ALLOW_TTL_SECONDS: seconds(300, 1, 3600, 'How long an allow decision is cached'),
  AUTHZ_DENY_TTL_SECONDS: seconds(60, 1, 3600, 'How long a deny decision is cached'),
  OAUTH_STATE_TTL_SECONDS: seconds(600, 30, 3600, 'Lifetime of an OAuth state token'),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Address the demo server listens on' }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65_535, description: 'Port the demo server listens on' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino log level' }
  ),
  RATE_LIMIT_ON_STORE_ERROR: Type.Union(
    FailPolicySchema.anyOf,
    { default: 'open', description: 'What the rate limiter does when Redis fails: open (allow), closed (503), local (in-process bucket)' }
  ),
  TRUST_PROXY: Type.Boolean({ default: false, description: 'Trust X-Forwarded-For (only behind a proxy you run)' }),
  PUBLIC_BASE_URL: Type.String({ default: '', pattern: '^(|https?://[^/\\s]+(/\\S*)?)$', description: 'Public origin the OAuth callback URLs are built on (https://app.example.com); empty = http://HOST:PORT, or the forwarded host when TRUST_PROXY is on. Never the Host header otherwise' }),
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 600_000, description: 'A request (headers and body) must arrive within this, or it is answered 408 and its socket closed' }),
  HTTP_CONNECTION_TIMEOUT_MS: Type.Integer({ default: 75_000, minimum: 100, maximum: 3_600_000, description: 'An idle socket is closed after this' }),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ default: 72_000, minimum: 100, maximum: 3_600_000, description: 'How long a keep-alive connection waits for its next request (above your load balancer\'s idle timeout)' }),
  READINESS_FOLLOWS_REDIS: Type.Boolean({ default: false, description: 'GET /health/ready answers 503 while Redis is down (off: an outage leaves instances ready, degraded)' }),
  SESSION_SECRET: Type.String({ default: '', pattern: '^(|.{32,})$', description: 'Signs the session cookie (32+ characters; instances behind one load balancer must share it); empty = a random one per start, so sessions end with the process' }),
  REDIS_CLUSTER_NODES: Type.String({ default: '', pattern: HOST_PORTS_OR_EMPTY_PATTERN, description: 'A Redis Cluster to use instead of REDIS_URL: host:port,host:port… (some of its nodes)' }),
  REDIS_SENTINELS: Type.String({ default: '', pattern: HOST_PORTS_OR_EMPTY_PATTERN, description: 'Sentinels of a Sentinel-managed primary to use instead of REDIS_URL: host:port,… (with REDIS_SENTINEL_NAME)' }),
  REDIS_SENTINEL_NAME: Type.String({ default: 'mymaster', minLength: 1, description: 'The master group name the sentinels monitor' })
})

/** `host:port,host:port…` as REDIS_CLUSTER_NODES and REDIS_SENTINELS take it, or '' for none. */
export function parseHostPorts (list: string): Array<{ host: string, port: number }> {
  return list.split(',').filter((item) => item !== '').map((item) => {
    const at = item.lastIndexOf(':')
    return { host: item.slice(0, at), port: Number(item.slice(at + 1)) }
  })
}

export type Env = Static<typeof EnvSchema>
