import type { ConnectionOptions } from 'node:tls'
import { Type } from '@sinclair/typebox'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { DEFAULT_COMMAND_TIMEOUT_MS } from './redis-store.js'

/** A Redis URL as the options accept it, or '' for none (`REDIS_URL=` set but empty means no Redis). */
export const REDIS_URL_OR_EMPTY_PATTERN = '^(|rediss?://.+)$'

export interface RedisClientOptions {
  commandTimeoutMs?: number
  connectTimeoutMs?: number
  /** Longest pause between reconnection attempts. */
  maxReconnectDelayMs?: number
  /**
   * ioredis `enableAutoPipelining`: the client sends each tick's commands as
   * one pipeline. The store batches its writes without it (`batchWrites`), at
   * less CPU per command; with it, the store leaves the batching to the client.
   */
  autoPipelining?: boolean
  /**
   * TLS settings for a `rediss://` URL (node's `tls.connect` options): `ca`
   * for a server certificate signed by your own CA. A `rediss://` URL without
   * them checks the server against Node's trusted CAs.
   */
  tls?: ConnectionOptions
}

export interface HostPort { host: string, port: number }

export interface ClusterConfig {
  /** Some of the cluster's nodes (one reachable node is enough to find the others). */
  nodes: HostPort[]
  /** Extra ioredis `Cluster` options (TLS, NAT map, dnsLookup for managed services…); ours win for the outage model. */
  options?: ClusterOptions
}

export interface SentinelConfig {
  sentinels: HostPort[]
  /** The master group name the sentinels monitor. */
  name: string
  /** Extra ioredis options (password, sentinelPassword, TLS…); ours win for the outage model. */
  options?: RedisOptions
}

const HostPortSchema = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65_535 })
}, { additionalProperties: false })

/** Extra ioredis options, passed through unchecked. */
const PassThrough = Type.Object({}, { additionalProperties: true })

export const ClusterOptionSchema = Type.Object({
  nodes: Type.Array(HostPortSchema, { minItems: 1, description: 'some of the cluster\'s nodes; one reachable node finds the rest' }),
  options: Type.Optional(PassThrough)
}, { additionalProperties: false, description: 'a Redis Cluster: the plugin builds, owns and closes a tuned ioredis Cluster' })

export const SentinelOptionSchema = Type.Object({
  sentinels: Type.Array(HostPortSchema, { minItems: 1 }),
  name: Type.String({ minLength: 1, description: 'the master group name the sentinels monitor' }),
  options: Type.Optional(PassThrough)
}, { additionalProperties: false, description: 'a Sentinel-managed primary: the plugin builds, owns and closes the client' })

/**
 * An ioredis client set up for a service that must survive Redis: every command
 * has a deadline, nothing queues while disconnected (a dead Redis answers at
 * once instead of holding requests), commands in flight when a connection
 * drops are failed rather than silently re-sent (a script may have run), and
 * reconnection never stops, so the app heals without a restart.
 */
export function redisClientOptions (options: RedisClientOptions = {}): RedisOptions {
  const maxDelay = options.maxReconnectDelayMs ?? 500
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    retryStrategy: (times) => Math.min(50 * times, maxDelay),
    enableAutoPipelining: options.autoPipelining ?? false,
    ...(options.tls !== undefined ? { tls: options.tls } : {})
  }
}

export function createRedisClient (url: string, options: RedisClientOptions = {}): Redis {
  return new Redis(url, redisClientOptions(options))
}

/**
 * ioredis `Cluster` options for the same outage model: no offline queue (a
 * command for a dead master fails at once, it does not wait for the
 * failover), a bounded number of redirections and short retry delays (the
 * store's deadline bounds the whole call anyway), a slots refresh that
 * notices a promotion within a second or so, and reconnection that never stops.
 * Each node connection gets `redisClientOptions`, so `commandTimeout` is the deadline.
 */
export function clusterClientOptions (options: RedisClientOptions = {}): ClusterOptions {
  const maxDelay = options.maxReconnectDelayMs ?? 500
  const timeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    scaleReads: 'master',
    maxRedirections: 6,
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    retryDelayOnTryAgain: 50,
    retryDelayOnMoved: 0,
    slotsRefreshTimeout: Math.max(timeout, 500),
    slotsRefreshInterval: 5000,
    clusterRetryStrategy: (times) => Math.min(50 * times, maxDelay),
    enableAutoPipelining: options.autoPipelining ?? false,
    redisOptions: redisClientOptions(options)
  }
}

export function createClusterClient (config: ClusterConfig, options: RedisClientOptions = {}): Cluster {
  const ours = clusterClientOptions(options)
  const theirs = config.options ?? {}
  return new Cluster(config.nodes, { ...theirs, ...ours, redisOptions: { ...theirs.redisOptions, ...ours.redisOptions } })
}

/**
 * A client for a Sentinel-managed primary: the sentinels are asked who the
 * primary is on every (re)connection, which a dead primary forces, and a
 * READONLY reply (the old primary is back as a replica) forces too. Sentinel
 * lookups retry with a bounded backoff forever. (ioredis's `failoverDetector`
 * is left off: in our failover test it ended the client for good.)
 */
export function createSentinelClient (config: SentinelConfig, options: RedisClientOptions = {}): Redis {
  const maxDelay = options.maxReconnectDelayMs ?? 500
  return new Redis({
    ...config.options,
    ...redisClientOptions(options),
    sentinels: config.sentinels,
    name: config.name,
    role: 'master',
    // a primary demoted to replica (it came back after the failover) answers
    // writes with READONLY: reconnect, which asks the sentinels again
    reconnectOnError: (err) => err.message.startsWith('READONLY') ? 1 : false,
    sentinelRetryStrategy: (times) => Math.min(50 * times, maxDelay)
  })
}

/** The client the `cluster` or `sentinel` option asks for (at most one of them), or undefined for neither. */
export function buildRedisClient (config: { cluster?: ClusterConfig, sentinel?: SentinelConfig, redisUrl?: string }, options: RedisClientOptions = {}): Redis | Cluster | undefined {
  const given = [config.cluster, config.sentinel, config.redisUrl].filter((c) => c !== undefined).length
  if (given > 1) throw new TypeError('cachekit-cache: give one of redisUrl, cluster and sentinel')
  if (config.cluster !== undefined) return createClusterClient(config.cluster, options)
  if (config.sentinel !== undefined) return createSentinelClient(config.sentinel, options)
  return undefined
}

/**
 * What in a user-supplied client breaks the fail policies: an offline queue
 * holds every request for as long as Redis is away, and unbounded retries per
 * request do the same one command at a time. Answers one sentence per problem.
 */
export function clientProblems (client: Redis | Cluster): string[] {
  const problems: string[] = []
  const cluster = (client as Cluster).isCluster === true
  const node: RedisOptions = cluster ? ((client as Cluster).options.redisOptions ?? {}) : (client as Redis).options
  const offlineQueue = cluster ? (client as Cluster).options.enableOfflineQueue !== false : node.enableOfflineQueue !== false
  if (offlineQueue) problems.push('enableOfflineQueue is on: while Redis is away every call waits instead of failing at once (set enableOfflineQueue: false)')
  // ioredis's default is 20 retries; null means for ever
  const retries = node.maxRetriesPerRequest
  if (retries === null || retries === undefined || retries > 1) {
    const said = retries === null ? 'null (for ever)' : retries === undefined ? 'unset (20 by default)' : String(retries)
    problems.push(`maxRetriesPerRequest is ${said}: a call is retried across reconnections instead of failing within its deadline (set maxRetriesPerRequest: 0)`)
  }
  return problems
}
