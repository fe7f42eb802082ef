import { fail, ok, type Result } from '../result.js'

/** What `setMany` accepts: a plain object, a Map, or any iterable of `[key, value]` pairs. */
export type Entries = Readonly<Record<string, string>> | ReadonlyMap<string, string> | Iterable<readonly [string, string]>

/**
 * The pairs of any `Entries`, as an array; INVALID_ARGUMENT for anything else
 * (a string, a number, a pair that is not two items), so a batch method
 * answers a Result whatever it is given. Keys and values are checked later,
 * by whoever writes them.
 */
export function entriesOf (input: unknown): Result<Array<[string, string]>> {
  if (typeof input !== 'object' || input === null) {
    return fail('INVALID_ARGUMENT', `entries must be an object, a Map or an iterable of [key, value] pairs, got ${input === null ? 'null' : typeof input}`)
  }
  if (!(Symbol.iterator in input)) return ok(Object.entries(input) as Array<[string, string]>)
  const pairs: Array<[string, string]> = []
  for (const pair of input as Iterable<unknown>) {
    if (!Array.isArray(pair) || pair.length !== 2) return fail('INVALID_ARGUMENT', 'each entry must be a [key, value] pair')
    pairs.push(pair as [string, string])
  }
  return ok(pairs)
}
