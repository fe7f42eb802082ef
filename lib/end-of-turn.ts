import { MessageChannel } from 'node:worker_threads'

/** How many EndOfTurn callbacks are running now. */
let running = 0

/**
 * Whether an EndOfTurn callback is running now: the end of the pass has come,
 * so what it sends should leave at once, not wait for another pass (a
 * `setImmediate` asked for now would fire in the next one).
 */
export function atEndOfTurn (): boolean {
  return running > 0
}

/**
 * Calls back once at the end of the current turn of the event loop, after the
 * I/O callbacks already due (what `setImmediate` does), however often it is
 * scheduled in that turn.
 *
 * It uses `setImmediate`, unless that is not Node's own: users' test suites
 * fake timers (sinon, `node:test` mock timers, Jest), and a faked
 * `setImmediate` never fires on its own, which would hold every batched take
 * forever. Node's own returns an `Immediate` holding the callback as
 * `_onImmediate`; anything else is taken for a fake, and a message port
 * (which no fake-timer library replaces) is used as well. The port costs a
 * message (a syscall and a serialisation) per turn, so it is not the default.
 *
 * The rate limiter sends a turn's takes with it (`rate-limit/take-batch.ts`);
 * the Redis store uncorks its socket with it (`store/redis-store.ts`).
 */
export class EndOfTurn {
  readonly #channel = new MessageChannel()
  readonly #callback: () => void
  #scheduled = false

  constructor (callback: () => void) {
    this.#callback = callback
    const { port1 } = this.#channel
    port1.on('message', () => {
      port1.unref()
      this.#fire()
    })
    // idle, the port keeps nothing alive
    port1.unref()
  }

  // whichever comes first calls back; the other finds nothing scheduled
  readonly #fire = (): void => {
    if (!this.#scheduled) return
    this.#scheduled = false
    running++
    try {
      this.#callback()
    } finally {
      running--
    }
  }

  /** Asks for the callback at the end of this turn (once, however many ask). */
  schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    const immediate = setImmediate(this.#fire) as unknown as { _onImmediate?: unknown } | undefined
    if (immediate?._onImmediate === this.#fire) return
    // a faked setImmediate: the port (held while a callback is due, so the process does not exit before it runs)
    this.#channel.port1.ref()
    this.#channel.port2.postMessage(null)
  }
}
