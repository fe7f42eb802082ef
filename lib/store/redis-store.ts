import calculateSlot from 'cluster-key-slot'
import { Command, Redis, type Cluster } from 'ioredis'
import { CircuitBreaker, type BreakerOptions, type BreakerState } from '../breaker.js'
import { Deadlines } from '../deadline.js'
import { atEndOfTurn, EndOfTurn } from '../end-of-turn.js'
import { BUDGET_SPENT, budgetSpent, spendBudget } from '../request-budget.js'
import { fail, isOutage, ok, type Failure, type Result } from '../result.js'
import { sha1, type Script, type ScriptArg } from '../scripts.js'
import { BaseStore, type BaseStoreOptions } from './base-store.js'
import { classifyRedisError, isNoScript } from './redis-errors.js'

export type RedisClient = Redis | Cluster

export interface RedisStoreOptions extends BaseStoreOptions {
  client: RedisClient
  /**
   * Deadline for every command. A client made with ioredis `commandTimeout`
   * enforces its own; for any other client the store enforces this one.
   */
  commandTimeoutMs?: number
  breaker?: BreakerOptions
  /** SCAN COUNT hint for deletePattern. */
  scanCount?: number
  /**
   * Write the commands this store sends in one pass of the event loop to the
   * socket together, in one write (`batchWrites`, on by default). Only on a
   * single-node ioredis client without `enableAutoPipelining` (which batches
   * in its own way); a Cluster's commands are written as ioredis writes them.
   */
  batchWrites?: boolean
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 250

/** What `client.get` gives its Command (ioredis reads it, keeps none of it): one object for every GET. */
const GET_OPTIONS = { replyEncoding: 'utf8' } as const

const CIRCUIT_OPEN: Failure = fail('UNAVAILABLE', 'Redis circuit is open: failing fast until a probe succeeds')

function isCluster (client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true
}

/**
 * A script's twin for keys of several slots held by one Cluster node (Redis
 * 7's `allow-cross-slot-keys`): KEYS[1] only routes the call; the keys travel
 * in ARGV (their count, then the keys, then the script's own arguments) and
 * are put back as KEYS and ARGV before the script's own code runs. Every key
 * is touched first, so a key this node does not serve (a stale slot map, a
 * slot being migrated) fails the call before anything is written.
 */
function crossSlotScript<T> (script: Script<T>): Script<T> {
  let variant = CROSS_SLOT.get(script) as Script<T> | undefined
  if (variant === undefined) {
    const lua = [
      '#!lua flags=allow-cross-slot-keys',
      `-- cachekit: ${script.name} over keys of several slots of one Cluster node`,
      'local __n = tonumber(ARGV[1])',
      'local KEYS = { unpack(ARGV, 2, __n + 1) }',
      "for __i = 1, __n do redis.call('EXISTS', KEYS[__i]) end",
      'local ARGV = { unpack(ARGV, __n + 2) }',
      script.lua
    ].join('\n')
    variant = { ...script, name: `${script.name}@cross-slot`, lua, sha: sha1(lua) }
    CROSS_SLOT.set(script, variant)
  }
  return variant
}
const CROSS_SLOT = new WeakMap<Script<unknown>, Script<unknown>>()

/** How often the slot map is asked again while a Cluster node's circuit is open: a promotion is seen this soon. */
export const SLOTS_REFRESH_WHILE_OPEN_MS = 200

/**
 * A breaker and the callbacks that settle a call under it, made once per
 * breaker so the hot path allocates no closure per call.
 */
class Guard {
  readonly breaker: CircuitBreaker
  constructor (breaker: CircuitBreaker, onOpen: () => void) {
    this.breaker = breaker
    this.#onOpen = onOpen
  }

  readonly #onOpen: () => void

  readonly succeeded = <T>(value: T): Result<T> => {
    this.breaker.success()
    return { ok: true, value }
  }

  readonly failed = (err: unknown): Failure => {
    const error = classifyRedisError(err)
    if (isOutage(error)) {
      this.breaker.failure()
      // the request met an outage: its later Redis calls fail fast (lib/request-budget.ts)
      spendBudget()
      if (this.breaker.state === 'open') this.#onOpen()
    } else {
      this.breaker.success()
    }
    return { ok: false, error }
  }
}

/**
 * The store over ioredis, single node or Cluster. Every call goes through a
 * circuit breaker and a deadline and comes back as a Result. On a Cluster
 * each master has its own breaker, chosen by the slot of the call's key, so
 * a dead master fails fast for its own keys only; and the store bounds every
 * call with its own deadline there, because ioredis's `commandTimeout` starts
 * again on each redirection and retry.
 */
export class RedisStore extends BaseStore {
  readonly kind = 'redis' as const
  readonly cluster: boolean
  readonly client: RedisClient
  /** The client's breaker on a single node; on a Cluster, the one for calls that name no key. */
  readonly breaker: CircuitBreaker
  /** The deadline this store enforces itself; undefined when a single-node client has its own `commandTimeout`. */
  readonly deadlineMs: number | undefined
  /** The deadlines this store keeps: its own (`deadlineMs`), or only a NOSCRIPT reload's under the client's `commandTimeout`. */
  readonly #deadlines: Deadlines
  readonly #scanCount: number
  readonly #breakerOptions: BreakerOptions | undefined
  readonly #guard: Guard
  /** Whether GET goes straight to `client.sendCommand` (`#get`): read off the client's options once, as the deadline is. */
  readonly #directGet: boolean
  /** Uncorks at the end of the loop pass, when a pass's commands leave in one socket write (`#batchWrites`). */
  readonly #endOfPass: EndOfTurn | undefined
  /** The socket held corked until the end of this loop pass, if any. */
  #corked: { uncork: () => void } | undefined
  /** A Cluster's breakers by node ("host:port"), made as nodes are first used. */
  readonly #nodeGuards = new Map<string, Guard>()
  #refreshTimer: NodeJS.Timeout | undefined
  readonly #onReady = (): void => {
    this.breaker.reset()
    // a Cluster connected afresh: every node's breaker starts again, closed
    this.#nodeGuards.clear()
  }

  constructor (options: RedisStoreOptions) {
    super(options)
    this.client = options.client
    this.cluster = isCluster(this.client)
    this.#breakerOptions = options.breaker
    this.breaker = new CircuitBreaker(options.breaker)
    this.#guard = new Guard(this.breaker, this.#watchSlots)
    this.#scanCount = options.scanCount ?? 1000
    // on a Cluster a node's commandTimeout starts again on every redirection and
    // retry, so it bounds nothing: there the store always keeps the deadline
    this.deadlineMs = isCluster(this.client)
      ? options.commandTimeoutMs ?? this.client.options.redisOptions?.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS
      : this.client.options.commandTimeout === undefined ? (options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS) : undefined
    // a NOSCRIPT reload and its retry share one deadline, whoever enforces it
    // the store keeps no deadline only for a single node whose client has a commandTimeout of its own
    this.#deadlines = new Deadlines(this.deadlineMs ?? (this.client as Redis).options.commandTimeout as number, 'Redis command')
    const own = this.client.options as Partial<Redis['options']>
    this.#directGet = this.client instanceof Redis && own.keyPrefix === '' && own.enableAutoPipelining !== true && own.showFriendlyErrorStack !== true
    this.#endOfPass = options.batchWrites !== false && this.client instanceof Redis && own.enableAutoPipelining !== true
      ? new EndOfTurn(this.#uncork)
      : undefined
    // a fresh connection is the best probe there is: stop failing fast at once
    this.client.on('ready', this.#onReady)
    if (isCluster(this.client)) {
      this.client.on('ready', this.#probeVersion)
      if (this.client.status === 'ready') this.#probeVersion()
    }
  }

  /** The circuit of a Cluster node ("host:port"); a node not used yet is closed. */
  circuitOf (node: string): BreakerState {
    return this.#nodeGuard(node).breaker.state
  }

  /** The guard of the node that owns `key`'s slot now (the client's own on a single node). */
  #guardFor (key: string): Guard {
    if (!this.cluster) return this.#guard
    const owner = (this.client as Cluster).slots[calculateSlot(key)]?.[0]
    return owner === undefined ? this.#guard : this.#nodeGuard(owner)
  }

  #nodeGuard (node: string): Guard {
    let guard = this.#nodeGuards.get(node)
    if (guard === undefined) {
      guard = new Guard(new CircuitBreaker(this.#breakerOptions), this.#watchSlots)
      this.#nodeGuards.set(node, guard)
    }
    return guard
  }

  /**
   * A Cluster node's circuit opened: its master may be gone and a replica
   * about to take over. Ask for the slot map every SLOTS_REFRESH_WHILE_OPEN_MS
   * until no circuit is open, so keys move to the new master as soon as the
   * cluster names it (ioredis alone would wait for its next periodic refresh).
   */
  readonly #watchSlots = (): void => {
    if (!this.cluster || this.#refreshTimer !== undefined) return
    const tick = (): void => {
      // a node that owns no slot any more (a dead master replaced) is forgotten, open circuit and all
      const owners = new Set((this.client as Cluster).slots.map((nodes) => nodes[0]))
      for (const node of this.#nodeGuards.keys()) if (!owners.has(node)) this.#nodeGuards.delete(node)
      const open = [...this.#nodeGuards.values()].some((g) => g.breaker.state !== 'closed')
      if (!open || (this.client as Cluster).status === 'end') { this.#refreshTimer = undefined; return }
      ;(this.client as Cluster).refreshSlotsCache(() => {})
      this.#refreshTimer = setTimeout(tick, SLOTS_REFRESH_WHILE_OPEN_MS)
      this.#refreshTimer.unref()
    }
    tick()
  }

  // The hot path is one promise chain with shared callbacks (no per-call
  // closures, no extra awaits): its cost next to a raw ioredis call is measured.

  /** Settles a command already sent: deadline, breaker bookkeeping, Result. */
  #settle<T> (guard: Guard, command: Promise<T>): Promise<Result<T>> {
    return this.#bound(command).then(guard.succeeded, guard.failed) as Promise<Result<T>>
  }

  /** Sends `op` unless the circuit of `key`'s node is open. */
  #run<T> (key: string, op: () => Promise<T>): Promise<Result<T>> {
    return this.#runOn(this.#guardFor(key), op)
  }

  #runOn<T> (guard: Guard, op: () => Promise<T>): Promise<Result<T>> {
    const refused = this.#admit(guard)
    return refused === undefined ? this.#settle(guard, op()) : Promise.resolve(refused)
  }

  protected rawGet (key: string): Promise<Result<string | null>> {
    const guard = this.#guardFor(key)
    const refused = this.#admit(guard)
    return refused === undefined ? this.#settle(guard, this.#get(key)) : Promise.resolve(refused)
  }

  /**
   * Every call's gate, just before it sends: the Failure that answers it when
   * its request's budget is spent or its node's circuit is open; else
   * undefined, with the socket corked for this pass (`#batchWrites`).
   */
  #admit (guard: Guard): Failure | undefined {
    if (budgetSpent()) return BUDGET_SPENT
    if (!guard.breaker.allow()) return CIRCUIT_OPEN
    this.#batchWrites()
    return undefined
  }

  /**
   * Holds the client's socket corked until this pass of the event loop has run
   * its callbacks (`EndOfTurn`: Node's own `setImmediate`, or a message port when
   * a test suite fakes it; every request whose bytes arrived together),
   * so every command sent meanwhile, by this store or anyone sharing the client,
   * leaves in one write: one syscall for Node and one read for Redis instead
   * of one per command, which under load is most of a command's cost. node-redis
   * batches its writes the same way by default, and ioredis's auto-pipelining
   * waits for the same moment. A command waits at most for the callbacks of
   * the pass it was sent in, never for I/O. Order is kept: the commands are
   * written as they were sent.
   */
  #batchWrites (): void {
    // at the end of a pass already (the rate limiter sending its batched takes): corking would hold the write a whole pass
    if (this.#endOfPass === undefined || this.#corked !== undefined || atEndOfTurn()) return
    const client = this.client as Redis
    // before ready ioredis queues commands itself; nothing is written to cork
    if (client.status !== 'ready') return
    const socket = client.stream
    socket.cork()
    this.#corked = socket
    this.#endOfPass.schedule()
  }

  readonly #uncork = (): void => {
    const socket = this.#corked as { uncork: () => void }
    this.#corked = undefined
    socket.uncork()
  }

  /**
   * GET as `client.get` sends it (the same Command, reply encoding and command
   * timeout), without ioredis's generic command method around it (rest
   * arguments, an options object, the auto-pipelining test): measurably
   * cheaper on the hit paths. Only on an ioredis `Redis` client without a key
   * prefix, auto-pipelining or friendly error stacks (`#directGet`); any
   * other client takes `client.get` itself.
   */
  #get (key: string): Promise<string | null> {
    return this.#directGet
      ? (this.client as Redis).sendCommand(new Command('get', [key], GET_OPTIONS)) as Promise<string | null>
      : this.client.get(key)
  }

  protected rawSet (key: string, value: string, ttlMs: number | undefined): Promise<Result<true>> {
    return this.#run(key, async () => {
      if (ttlMs === undefined) await this.client.set(key, value)
      else await this.client.set(key, value, 'PX', ttlMs)
      return true as const
    })
  }

  protected rawDelete (key: string): Promise<Result<boolean>> {
    return this.#run(key, async () => (await this.client.del(key)) === 1)
  }

  protected rawExists (key: string): Promise<Result<boolean>> {
    return this.#run(key, async () => (await this.client.exists(key)) === 1)
  }

  protected rawExpire (key: string, ttlMs: number): Promise<Result<boolean>> {
    return this.#run(key, async () => (await this.client.pexpire(key, ttlMs)) === 1)
  }

  protected rawPttl (key: string): Promise<Result<number>> {
    return this.#run(key, () => this.client.pttl(key))
  }

  protected rawIncrement (key: string, by: number): Promise<Result<number>> {
    return this.#run(key, () => this.client.incrby(key, by))
  }

  protected rawGetMany (keys: readonly string[]): Promise<Result<Array<string | null>>> {
    const client = this.client
    // MGET is one slot only on a Cluster; there each key gets its own
    // one-key MGET (not GET, which fails where MGET answers nil: another type),
    // each under the breaker of its own node
    if (isCluster(client)) return all(keys.map((key) => this.#run(key, async () => (await client.mget(key))[0] as string | null)))
    return this.#runOn(this.#guard, () => client.mget(keys as string[]))
  }

  protected rawSetMany (entries: ReadonlyArray<readonly [string, string]>, ttlMs: number | undefined): Promise<Result<true>> {
    const client = this.client
    const setOne = (c: RedisClient | ReturnType<Redis['pipeline']>, key: string, value: string): unknown =>
      ttlMs === undefined ? c.set(key, value) : c.set(key, value, 'PX', ttlMs)
    if (isCluster(client)) {
      return all(entries.map(([key, value]) => this.#run(key, async () => { await setOne(client, key, value) }))).then((r) => r.ok ? ok(true as const) : r)
    }
    return this.#runOn(this.#guard, async () => {
      const pipeline = client.pipeline()
      for (const [key, value] of entries) setOne(pipeline, key, value)
      const replies = await pipeline.exec()
      const error = replies?.find(([err]) => err !== null)?.[0]
      if (error != null) throw error
      return true as const
    })
  }

  protected async rawDeletePattern (glob: string, keep: ((key: string) => boolean) | undefined): Promise<Result<number>> {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client]
    let deleted = 0
    for (const node of nodes) {
      let cursor = '0'
      do {
        // one SCAN page and the UNLINK of what it found, each under the deadline
        const page = await this.#runOn(this.#guardOfNode(node), async () => {
          const [next, found] = await node.scan(cursor, 'MATCH', glob, 'COUNT', this.#scanCount)
          const keys = keep === undefined ? found : found.filter((key) => !keep(key))
          return [next, await this.#unlink(node, keys)] as const
        })
        if (!page.ok) return page
        cursor = page.value[0]
        deleted += page.value[1]
      } while (cursor !== '0')
    }
    return ok(deleted)
  }

  /** UNLINK in one call on a single node; one per key on a Cluster, where keys of one node may still span slots. */
  async #unlink (node: Redis, keys: string[]): Promise<number> {
    if (keys.length === 0) return 0
    if (!isCluster(this.client)) return await node.unlink(...keys)
    // through the Cluster client, one UNLINK per key sent together: each routed to its slot's owner, and a
    // failed one rejects the page (a pipeline's failed reply would have counted as NaN)
    const cluster = this.client
    const counts = await Promise.all(keys.map(async (key) => await cluster.unlink(key)))
    return counts.reduce((sum, n) => sum + n, 0)
  }

  protected rawGetDel (key: string): Promise<Result<string | null>> {
    return this.#run(key, () => this.client.getdel(key))
  }

  protected rawReplace (key: string, value: string): Promise<Result<string | null>> {
    // one plain command (no script): the session store's save of a session it knows is there
    return this.#run(key, () => this.client.set(key, value, 'KEEPTTL', 'XX', 'GET'))
  }

  /**
   * EVALSHA, and on an explicit NOSCRIPT only (Redis restarted, SCRIPT FLUSH)
   * load the script and try once more. Never after a timeout or a dropped
   * connection: the script may already have run. One promise chain on the
   * success path: this is the rate limiter's hot path.
   */
  /**
   * Which keys may share a script call: on a Cluster of Redis ≥ 7 the node
   * that owns `key`'s slot now (the cross-slot twin carries them), on an older
   * one (or before the version is known) the slot itself; one group on a single node.
   */
  batchGroup (key: string): string {
    if (!this.cluster) return ''
    const slot = calculateSlot(key)
    const owner = (this.client as Cluster).slots[slot]?.[0] ?? ''
    return this.#crossSlot ? owner : `${owner}#${slot}`
  }

  /** Whether keys of several slots of one node go in one script call (a Cluster of Redis ≥ 7, once its version is known). */
  get crossSlotBatching (): boolean {
    return this.#crossSlot
  }

  #crossSlot = false

  /** Asks a master for its version: `allow-cross-slot-keys` needs Redis 7. */
  readonly #probeVersion = (): void => {
    const node = (this.client as Cluster).nodes('master')[0]
    node?.info('server').then((info) => {
      this.#crossSlot = /redis_version:([7-9]|\d\d)/.test(info)
    }, () => {})
  }

  protected rawRunScript<T> (script: Script<T>, keys: readonly string[], args: readonly ScriptArg[]): Promise<Result<T>> {
    // keys of several slots (one node's, batched by the caller): the cross-slot twin, routed by the first key
    if (this.#crossSlot && keys.length > 1 && !oneSlot(keys)) {
      return this.rawRunScript(crossSlotScript(script), keys.slice(0, 1), [keys.length, ...keys, ...args])
    }
    const guard = keys.length > 0 ? this.#guardFor(keys[0] as string) : this.#guard
    const refused = this.#admit(guard)
    if (refused !== undefined) return Promise.resolve(refused)
    const decode = (reply: unknown): Result<T> => this.#decoded(guard, script, reply)
    // one deadline for the whole call, reload and retry included
    const started = this.deadlineMs === undefined ? 0 : performance.now()
    return this.#bound(this.#evalsha(script, keys, args)).then(decode, (err: unknown) => isNoScript(err)
      // SCRIPT LOAD then EVALSHA under one deadline: with the client's own commandTimeout each would get a whole
      // one, and a call after Redis restarted (every script gone) could take three deadlines
      ? this.#deadlines.bound(this.#reloaded(script, keys, args), this.#left(started)).then(decode, guard.failed)
      : guard.failed(err))
  }

  #evalsha (script: Script<unknown>, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.client.evalsha(script.sha, keys.length, ...keys, ...args)
  }

  /** SCRIPT LOAD on the key's node, then EVALSHA again. */
  async #reloaded (script: Script<unknown>, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    await this.#load([script], keys[0])
    return await this.#evalsha(script, keys, args)
  }

  /** The command under the store's deadline (none when the client keeps its own). */
  #bound<T> (command: Promise<T>): Promise<T> {
    return this.deadlineMs === undefined ? command : this.#deadlines.bound(command)
  }

  /**
   * What is left of the deadline of a call that began at `started` (a NOSCRIPT
   * reload and retry): the store's, or the client's `commandTimeout` in full
   * when the client enforced the first attempt itself.
   */
  #left (started: number): number {
    return this.deadlineMs === undefined ? this.#deadlines.ms : Math.max(1, this.deadlineMs - (performance.now() - started))
  }

  #decoded<T> (guard: Guard, script: Script<T>, reply: unknown): Result<T> {
    guard.breaker.success()
    try {
      return { ok: true, value: script.decode(reply) }
    } catch (err) {
      return fail('SCRIPT', `script ${script.name} gave an unexpected reply: ${(err as Error).message}`, err)
    }
  }

  /** SCRIPT LOAD on every master, or only on the one that owns `key` (a promoted replica answering NOSCRIPT, say). */
  async #load (scripts: ReadonlyArray<Script<unknown>>, key?: string): Promise<void> {
    const client = this.client
    let nodes: Redis[] = isCluster(client) ? client.nodes('master') : [client]
    if (isCluster(client) && key !== undefined) {
      const owner = client.slots[calculateSlot(key)]?.[0]
      const mine = nodes.filter((node) => `${node.options.host as string}:${node.options.port as number}` === owner)
      if (mine.length > 0) nodes = mine
    }
    await Promise.all(nodes.flatMap((node) => scripts.map((s) => node.script('LOAD', s.lua))))
  }

  async loadScripts (scripts: ReadonlyArray<Script<unknown>>): Promise<Result<true>> {
    return await this.#runOn(this.#guard, async () => { await this.#load(scripts); return true as const })
  }

  /** The breaker of a Cluster node by its connection (the client's own on a single node). */
  #guardOfNode (node: Redis): Guard {
    return this.cluster ? this.#nodeGuard(`${node.options.host as string}:${node.options.port as number}`) : this.#guard
  }

  /**
   * Round trip in ms. On a Cluster every master is asked, each under its own
   * breaker, and the slowest answer counts: one dead master makes the store
   * unhealthy (degraded), though the keys of the others still work.
   */
  async ping (): Promise<Result<number>> {
    const started = performance.now()
    const client = this.client
    const pong = isCluster(client)
      ? await all(client.nodes('master').map((node) => this.#runOn(this.#guardOfNode(node), () => node.ping())))
      : await this.#runOn(this.#guard, () => client.ping())
    return pong.ok ? ok(Math.round((performance.now() - started) * 100) / 100) : pong
  }

  /** Detaches from the client; whoever created the client closes it. */
  async close (): Promise<void> {
    this.client.off('ready', this.#onReady)
    this.client.off('ready', this.#probeVersion)
    clearTimeout(this.#refreshTimer)
    this.#refreshTimer = undefined
  }
}

/** Every value, or the first failure. */
async function all<T> (results: Array<Promise<Result<T>>>): Promise<Result<T[]>> {
  const settled = await Promise.all(results)
  const values: T[] = []
  for (const r of settled) {
    if (!r.ok) return r
    values.push(r.value)
  }
  return ok(values)
}

/** Do all `keys` hash to one Cluster slot? */
function oneSlot (keys: readonly string[]): boolean {
  const slot = calculateSlot(keys[0] as string)
  for (let i = 1; i < keys.length; i++) if (calculateSlot(keys[i] as string) !== slot) return false
  return true
}
