import type { Cluster, Redis } from 'ioredis'
import { CircuitBreaker, type BreakerOptions } from '../breaker.js'
import { withDeadline } from '../deadline.js'
import { BUDGET_SPENT, budgetSpent, spendBudget } from '../request-budget.js'
import { fail, isOutage, ok, type Failure, type Result } from '../result.js'
import type { Script, ScriptArg } from '../scripts.js'
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
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 250

const CIRCUIT_OPEN: Failure = fail('UNAVAILABLE', 'Redis circuit is open: failing fast until a probe succeeds')

function isCluster (client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true
}

/**
 * The store over ioredis, single node or Cluster. Every call goes through the
 * circuit breaker and a deadline and comes back as a Result.
 */
export class RedisStore extends BaseStore {
  readonly kind = 'redis' as const
  readonly cluster: boolean
  readonly client: RedisClient
  readonly breaker: CircuitBreaker
  /** The deadline this store enforces itself; undefined when the client has its own `commandTimeout`. */
  readonly deadlineMs: number | undefined
  /** One command's deadline, whoever enforces it: a script's reload after NOSCRIPT gets one for both its calls. */
  readonly #retryDeadlineMs: number
  readonly #scanCount: number
  readonly #onReady = (): void => { this.breaker.reset() }

  constructor (options: RedisStoreOptions) {
    super(options)
    this.client = options.client
    this.cluster = isCluster(this.client)
    this.breaker = new CircuitBreaker(options.breaker)
    this.#scanCount = options.scanCount ?? 1000
    const own = isCluster(this.client)
      ? this.client.options.redisOptions?.commandTimeout
      : this.client.options.commandTimeout
    const deadlineMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    this.deadlineMs = own === undefined ? deadlineMs : undefined
    this.#retryDeadlineMs = own ?? deadlineMs
    // a fresh connection is the best probe there is: stop failing fast at once
    this.client.on('ready', this.#onReady)
  }

  // The hot path is one promise chain with shared callbacks (no per-call
  // closures, no extra awaits): its cost next to a raw ioredis call is measured.
  readonly #succeeded = <T>(value: T): Result<T> => {
    this.breaker.success()
    return { ok: true, value }
  }

  readonly #failed = (err: unknown): Failure => {
    const error = classifyRedisError(err)
    if (isOutage(error)) {
      this.breaker.failure()
      spendBudget()
    } else this.breaker.success()
    return { ok: false, error }
  }

  /** Settles a command already sent: deadline, breaker bookkeeping, Result. */
  #settle<T> (command: Promise<T>): Promise<Result<T>> {
    return this.#bound(command).then(this.#succeeded, this.#failed) as Promise<Result<T>>
  }

  /** Sends `op` unless the circuit is open. */
  #run<T> (op: () => Promise<T>): Promise<Result<T>> {
    if (budgetSpent()) return Promise.resolve(BUDGET_SPENT)
    if (!this.breaker.allow()) return Promise.resolve(CIRCUIT_OPEN)
    return this.#settle(op())
  }

  protected rawGet (key: string): Promise<Result<string | null>> {
    if (budgetSpent()) return Promise.resolve(BUDGET_SPENT)
    if (!this.breaker.allow()) return Promise.resolve(CIRCUIT_OPEN)
    return this.#settle(this.client.get(key))
  }

  protected rawSet (key: string, value: string, ttlMs: number | undefined): Promise<Result<true>> {
    return this.#run(async () => {
      if (ttlMs === undefined) await this.client.set(key, value)
      else await this.client.set(key, value, 'PX', ttlMs)
      return true as const
    })
  }

  protected rawDelete (key: string): Promise<Result<boolean>> {
    return this.#run(async () => (await this.client.del(key)) === 1)
  }

  protected rawExists (key: string): Promise<Result<boolean>> {
    return this.#run(async () => (await this.client.exists(key)) === 1)
  }

  protected rawExpire (key: string, ttlMs: number): Promise<Result<boolean>> {
    return this.#run(async () => (await this.client.pexpire(key, ttlMs)) === 1)
  }

  protected rawPttl (key: string): Promise<Result<number>> {
    return this.#run(() => this.client.pttl(key))
  }

  protected rawIncrement (key: string, by: number): Promise<Result<number>> {
    return this.#run(() => this.client.incrby(key, by))
  }

  protected rawGetMany (keys: readonly string[]): Promise<Result<Array<string | null>>> {
    const client = this.client
    // MGET is one slot only on a Cluster; there each key gets its own
    // one-key MGET (not GET, which fails where MGET answers nil: another type)
    if (isCluster(client)) return this.#run(() => Promise.all(keys.map(async (key) => (await client.mget(key))[0] as string | null)))
    return this.#run(() => client.mget(keys as string[]))
  }

  protected rawSetMany (entries: ReadonlyArray<readonly [string, string]>, ttlMs: number | undefined): Promise<Result<true>> {
    const client = this.client
    const setOne = (c: RedisClient | ReturnType<Redis['pipeline']>, key: string, value: string): unknown =>
      ttlMs === undefined ? c.set(key, value) : c.set(key, value, 'PX', ttlMs)
    if (isCluster(client)) {
      return this.#run(async () => {
        await Promise.all(entries.map(([key, value]) => setOne(client, key, value)))
        return true as const
      })
    }
    return this.#run(async () => {
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
        const page = await this.#run(async () => {
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
    const replies = await keys.reduce((p, key) => p.unlink(key), node.pipeline()).exec() as Array<[Error | null, number]>
    return replies.reduce((sum, [, n]) => sum + n, 0)
  }

  protected rawGetDel (key: string): Promise<Result<string | null>> {
    return this.#run(() => this.client.getdel(key))
  }

  /**
   * EVALSHA, and on an explicit NOSCRIPT only (Redis restarted, SCRIPT FLUSH)
   * load the script and try once more. Never after a timeout or a dropped
   * connection: the script may already have run. One promise chain on the
   * success path: this is the rate limiter's hot path.
   */
  protected rawRunScript<T> (script: Script<T>, keys: readonly string[], args: readonly ScriptArg[]): Promise<Result<T>> {
    if (budgetSpent()) return Promise.resolve(BUDGET_SPENT)
    if (!this.breaker.allow()) return Promise.resolve(CIRCUIT_OPEN)
    const decode = (reply: unknown): Result<T> => this.#decoded(script, reply)
    return this.#bound(this.#evalsha(script, keys, args)).then(decode, (err: unknown) => isNoScript(err)
      // SCRIPT LOAD then EVALSHA under one deadline: with the client's own commandTimeout each would get a whole
      // one, and a call after Redis restarted (every script gone) could take three deadlines
      ? withDeadline(this.#load([script]).then(() => this.#evalsha(script, keys, args)), this.#retryDeadlineMs, 'Redis command').then(decode, this.#failed)
      : this.#failed(err))
  }

  #evalsha (script: Script<unknown>, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.client.evalsha(script.sha, keys.length, ...keys, ...args)
  }

  #bound<T> (command: Promise<T>): Promise<T> {
    return this.deadlineMs === undefined ? command : withDeadline(command, this.deadlineMs, 'Redis command')
  }

  #decoded<T> (script: Script<T>, reply: unknown): Result<T> {
    this.breaker.success()
    try {
      return { ok: true, value: script.decode(reply) }
    } catch (err) {
      return fail('SCRIPT', `script ${script.name} gave an unexpected reply: ${(err as Error).message}`, err)
    }
  }

  async #load (scripts: ReadonlyArray<Script<unknown>>): Promise<void> {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client]
    await Promise.all(nodes.flatMap((node) => scripts.map((s) => node.script('LOAD', s.lua))))
  }

  async loadScripts (scripts: ReadonlyArray<Script<unknown>>): Promise<Result<true>> {
    return await this.#run(async () => { await this.#load(scripts); return true as const })
  }

  async ping (): Promise<Result<number>> {
    const started = performance.now()
    const pong = await this.#run(() => this.client.ping())
    return pong.ok ? ok(Math.round((performance.now() - started) * 100) / 100) : pong
  }

  /** Detaches from the client; whoever created the client closes it. */
  async close (): Promise<void> {
    this.client.off('ready', this.#onReady)
  }
}
