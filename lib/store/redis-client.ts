import type { ConnectionOptions } from 'node:tls'
import { Redis, type RedisOptions } from 'ioredis'
import { DEFAULT_COMMAND_TIMEOUT_MS } from './redis-store.js'

/** A Redis URL as the options accept it, or '' for none (`REDIS_URL=` set but empty means no Redis). */
export const REDIS_URL_OR_EMPTY_PATTERN = '^(|rediss?://.+)$'

export interface RedisClientOptions {
  commandTimeoutMs?: number
  connectTimeoutMs?: number
  /** Longest pause between reconnection attempts. */
  maxReconnectDelayMs?: number
  /**
   * Send the commands issued in one event-loop tick in one write (ioredis
   * `enableAutoPipelining`): fewer syscalls for Node and Redis under load.
   */
  autoPipelining?: boolean
  /**
   * TLS settings for a `rediss://` URL (node's `tls.connect` options): `ca`
   * for a server certificate signed by your own CA. A `rediss://` URL without
   * them checks the server against Node's trusted CAs.
   */
  tls?: ConnectionOptions
}

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
