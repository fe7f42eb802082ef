/**
 * The Redis commands cachekit sends, by plugin: what a Redis ACL user for it
 * needs and nothing more. Commands run inside the Lua scripts count too (Redis
 * checks them against the caller's ACL). `test/store/acl.test.ts` reads the
 * code (every `lua/*.lua` and every command the Redis store sends) and fails
 * when this list and the code disagree; the suite runs as a user restricted to
 * it (`CACHEKIT_TEST_REDIS_ACL=1`).
 */
export const REDIS_COMMANDS = {
  /** Every connection: `ping` (health, /health/ready) and `info` (ioredis' ready check; without it ioredis warns and skips the check). */
  connection: ['ping', 'info'],
  /**
   * `fastify.cache`: the whole store contract; cache-aside's load lock and the namespaces' generations (scripts
   * cache-claim and cache-release: `evalsha`, `script|load`); and the near cache (l1), on its two connections of its
   * own: `client|setname` (their names), `client|id` and `subscribe` (the invalidation connection, to the channel of
   * REDIS_CHANNELS), `client|tracking` (the data connection, its reads by `mget`), `ping` (the heartbeat).
   */
  cache: ['get', 'set', 'del', 'exists', 'pexpire', 'pttl', 'incrby', 'mget', 'getdel', 'scan', 'unlink', 'evalsha', 'script|load', 'client|setname', 'client|id', 'client|tracking', 'subscribe'],
  /** `fastify.sessionCache`: reads, and its scripts (session-set, -touch, -list, -revoke, -delete, -index-add, -index-remove). */
  sessionCache: ['get', 'exists', 'evalsha', 'script|load', 'time', 'set', 'del', 'pexpireat', 'zadd', 'zrange', 'zrem', 'zremrangebyscore'],
  /**
   * `fastify.authz`: the generation write, and its scripts (authz-read, authz-write; the shared policy log:
   * authz-log-append, authz-log-read); with a casbin enforcer, `publish` and `subscribe` (the policy watcher, on its
   * own connection, to the channel of REDIS_CHANNELS).
   */
  authz: ['set', 'evalsha', 'script|load', 'get', 'pexpire', 'pttl', 'incr', 'hset', 'hget', 'publish', 'subscribe'],
  /** `fastify.oauthState`: a state is written once and read-and-deleted once. */
  oauthState: ['set', 'getdel'],
  /** `fastify.tokenBucket`: its script (token-bucket) and `reset()`. */
  rateLimit: ['evalsha', 'script|load', 'time', 'get', 'set', 'del']
} as const satisfies Record<string, readonly string[]>

export type RedisCommandGroup = keyof typeof REDIS_COMMANDS

/**
 * The Pub/Sub channels each plugin subscribes to: only the near cache, to the one where Redis
 * sends its client-side caching invalidations (RESP2, `CLIENT TRACKING on REDIRECT`).
 */
export const REDIS_CHANNELS: Partial<Record<RedisCommandGroup, readonly string[]>> = {
  cache: ['__redis__:invalidate'],
  /** `<prefix>` stands for the key prefix: the policy watcher announces edits on the policy version key's name. */
  authz: ['<prefix>:authz:{authz-policy}:v']
}

/** The union of the channels of `groups` (default: every plugin), sorted. */
export function redisChannels (groups: readonly RedisCommandGroup[] = Object.keys(REDIS_COMMANDS) as RedisCommandGroup[]): string[] {
  return [...new Set(groups.flatMap((group) => REDIS_CHANNELS[group] ?? []))].sort()
}

/** The union of the commands of `groups` (default: every plugin), sorted. */
export function redisCommands (groups: readonly RedisCommandGroup[] = Object.keys(REDIS_COMMANDS) as RedisCommandGroup[]): string[] {
  return [...new Set(['connection' as const, ...groups].flatMap((group) => REDIS_COMMANDS[group]))].sort()
}

/**
 * The ACL rules of a user that may run cachekit under `prefix` and nothing
 * else: its keys only, the channels of `groups` only (the near cache's), and
 * only the commands of `groups`.
 * `ACL SETUSER cachekit on >secret ${redisAclRules('cachekit').join(' ')}`.
 */
export function redisAclRules (prefix: string, groups?: readonly RedisCommandGroup[]): string[] {
  const channels = redisChannels(groups).map((channel) => `&${channel.replace('<prefix>', prefix)}`)
  return ['resetkeys', `~${prefix}:*`, 'resetchannels', ...channels, '-@all', ...redisCommands(groups).map((command) => `+${command}`)]
}
