import { BUDGET_SPENT, budgetSpent } from '../request-budget.js'
import { fail, ok, type Result } from '../result.js'
import type { ScriptArg } from '../scripts.js'
import type { Store } from '../store/store.js'
import { EndOfTurn } from '../end-of-turn.js'
import { tokenBucketScript, type BucketReply } from './token-bucket-script.js'

/**
 * Coalesces the token-bucket calls made in one turn of the event loop into one
 * EVALSHA. Under load a server reads many requests per turn; deciding them in
 * one script call (each bucket still its own key, decided in order) spends one
 * command, one deadline timer and one reply on the lot instead of one each —
 * on Node's side and on Redis's. A lone request waits for nothing but the end
 * of the current turn (EndOfTurn: a message port, so faked timers cannot hold it).
 *
 * On a Cluster a batch holds the buckets of one master (`store.batchGroup`),
 * which the store sends as one cross-slot script call to that node. On the
 * memory store there is no round trip to save: `maxBatch` is 1 there and each
 * call goes straight to the store.
 */

interface Pending {
  key: string
  args: readonly ScriptArg[]
  resolve: (result: Result<BucketReply>) => void
}

export const DEFAULT_MAX_BATCH = 64

export class TakeBatch {
  readonly store: Store
  /** Buckets per script call; 1 sends each call on its own. */
  readonly maxBatch: number
  #queue: Pending[] = []
  readonly #endOfTurn: EndOfTurn
  /** The time to decide at, µs since the epoch (the process's clock); unset, or answering undefined: the store's (Redis TIME). */
  readonly #nowUs: (() => number | undefined) | undefined

  constructor (store: Store, maxBatch = DEFAULT_MAX_BATCH, nowUs?: () => number | undefined) {
    this.store = store
    this.#nowUs = nowUs
    // on a Cluster a batch holds the keys of one node (store.batchGroup)
    this.maxBatch = store.kind === 'redis' ? Math.max(1, Math.floor(maxBatch)) : 1
    this.#endOfTurn = new EndOfTurn(this.#flush)
  }

  /** Decides for one bucket; `args` are the script's four for it. */
  run (key: string, args: readonly ScriptArg[]): Promise<Result<BucketReply>> {
    if (this.maxBatch === 1) return this.store.runScript(tokenBucketScript, [key], this.#timed(args)).then(first)
    // a batch is sent at the end of the turn, outside the caller's request: its budget is read here, as the
    // store reads it for a call of its own (lib/request-budget.ts), or a take after an outage would wait a deadline
    if (budgetSpent()) return Promise.resolve(BUDGET_SPENT)
    return new Promise((resolve) => {
      this.#queue.push({ key, args, resolve })
      this.#endOfTurn.schedule()
    })
  }

  readonly #flush = (): void => {
    const queue = this.#queue
    this.#queue = []
    const group = this.store.batchGroup?.bind(this.store)
    const batches = group === undefined || !this.store.cluster ? [queue] : groupBy(queue, (p) => group(p.key))
    for (const batch of batches) {
      for (let i = 0; i < batch.length; i += this.maxBatch) this.#send(batch.slice(i, i + this.maxBatch))
    }
  }

  #send (batch: Pending[]): void {
    const keys = batch.map((p) => p.key)
    const args = this.#timed(batch.flatMap((p) => p.args))
    // runScript never rejects: every outcome arrives in the callback
    this.store.runScript(tokenBucketScript, keys, args).then((reply) => {
      if (reply.ok && reply.value.length === batch.length) {
        batch.forEach((p, i) => { p.resolve(ok(reply.value[i] as BucketReply)) })
      } else if (reply.ok) {
        const wrong = fail('SCRIPT', `script ${tokenBucketScript.name} answered for ${reply.value.length} buckets, not ${batch.length}`)
        for (const p of batch) p.resolve(wrong)
      } else if (reply.error.code === 'INVALID_ARGUMENT' && batch.length > 1) {
        // the script checks every bucket before it writes anything, so nothing
        // was taken: decide each alone, and only the bad one fails
        for (const p of batch) this.#send([p])
      } else {
        for (const p of batch) p.resolve(reply)
      }
    })
  }

  /** The script's arguments with the time appended when the limiter keeps its own clock. */
  #timed (args: readonly ScriptArg[]): readonly ScriptArg[] {
    const now = this.#nowUs?.()
    return now === undefined ? args : [...args, now]
  }
}

function groupBy<T> (items: T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const list = groups.get(k)
    if (list === undefined) groups.set(k, [item])
    else list.push(item)
  }
  return [...groups.values()]
}

function first (reply: Result<BucketReply[]>): Result<BucketReply> {
  return reply.ok ? ok(reply.value[0] as BucketReply) : reply
}
