import { randomBytes } from 'node:crypto'
import type { RedisClient } from '../store/redis-store.js'

/**
 * Announces policy edits over Redis pub/sub and replays the others' at once.
 * Only for promptness: correctness comes from the policy log, which every
 * instance reads before it decides on a miss. A second connection (a
 * duplicate of the shared client) holds the subscription; a reconnection
 * replays too, since announcements sent meanwhile were lost.
 */
export class PolicyWatcher {
  readonly channel: string
  readonly #client: RedisClient
  readonly #subscriber: RedisClient
  readonly #onChange: () => void
  /** Tells this instance's own announcements apart. */
  readonly #origin = randomBytes(6).toString('hex')

  constructor (client: RedisClient, channel: string, onChange: () => void) {
    this.channel = channel
    this.#client = client
    this.#onChange = onChange
    this.#subscriber = (client as { duplicate: () => RedisClient }).duplicate()
    this.#subscriber.on('error', () => {})
    this.#subscriber.on('ready', this.#onChange)
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel && !message.startsWith(`${this.#origin}:`)) this.#onChange()
    })
  }

  /** Subscribes; a failure is only a slower replay (on the next miss), so it is not one. */
  async start (): Promise<void> {
    try {
      if (this.#subscriber.status === 'wait') await this.#subscriber.connect()
      await this.#subscriber.subscribe(this.channel)
    } catch {}
  }

  announce (version: number): void {
    this.#client.publish(this.channel, `${this.#origin}:${version}`).catch(() => {})
  }

  close (): void {
    this.#subscriber.disconnect()
  }
}
