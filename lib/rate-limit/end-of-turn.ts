import { MessageChannel } from 'node:worker_threads'

/**
 * Calls back once at the end of the current turn of the event loop, after the
 * I/O callbacks already due (what `setImmediate` does), however often it is
 * scheduled in that turn. It is driven by a message port rather than a timer:
 * users' test suites fake timers (sinon, `node:test` mock timers, Jest), and a
 * faked `setImmediate` never fires on its own, which would hold every batched
 * take forever. No fake-timer library replaces a MessagePort.
 */
export class EndOfTurn {
  readonly #channel = new MessageChannel()
  #scheduled = false

  constructor (callback: () => void) {
    const { port1 } = this.#channel
    port1.on('message', () => {
      this.#scheduled = false
      port1.unref()
      callback()
    })
    // idle, the port keeps nothing alive
    port1.unref()
  }

  /** Asks for the callback at the end of this turn (once, however many ask). */
  schedule (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // held while a callback is due: the process does not exit before it runs
    this.#channel.port1.ref()
    this.#channel.port2.postMessage(null)
  }
}
