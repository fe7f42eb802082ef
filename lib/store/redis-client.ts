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
    enableAutoPipelining: options.autoPipelining ?? false
  }
}

export function createRedisClient (url: string, options: RedisClientOptions = {}): Redis {
  return new Redis(url, redisClientOptions(options))
}
