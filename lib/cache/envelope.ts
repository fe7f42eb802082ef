/**
 * How getOrSet and the typed namespaces store a value: one string,
 *
 *     ck1|<fresh until, epoch ms>|<stale until, epoch ms>|<generation>|<tag=gen,…>|<JSON, or nothing for undefined>
 *
 * so one GET tells a fresh value from a stale one (inside its grace window)
 * and carries the generations it was written under. Plain JSON (written by
 * `setJson`) never starts with `c`, so such a value reads as a fresh entry.
 * The times come from the writer's clock: instances whose clocks disagree by
 * Δ see a value go stale up to Δ early or late.
 */

export interface Entry<T = unknown> {
  value: T
  freshUntil: number
  staleUntil: number
  generation: string
  /** tag → the tag's generation at write time. */
  tags: Array<[string, string]>
}

const MARK = 'ck1|'

export function encodeEntry (entry: Entry): string | undefined {
  const json = entry.value === undefined ? '' : JSON.stringify(entry.value)
  if (json === undefined) return undefined
  const tags = entry.tags.map(([tag, gen]) => `${tag}=${gen}`).join(',')
  return `${MARK}${entry.freshUntil}|${entry.staleUntil}|${entry.generation}|${tags}|${json}`
}

/** The entry in a stored string; throws on bad JSON (the caller's DECODE failure). */
export function decodeEntry<T> (raw: string): Entry<T> {
  if (!raw.startsWith(MARK)) return { value: JSON.parse(raw) as T, freshUntil: Infinity, staleUntil: Infinity, generation: '', tags: [] }
  const a = raw.indexOf('|', 4)
  const b = raw.indexOf('|', a + 1)
  const c = raw.indexOf('|', b + 1)
  const d = raw.indexOf('|', c + 1)
  // a separator missing makes one search fail (-1); the ones after it then restart from the start
  if (Math.min(a, b, c, d) < 0) throw new Error('truncated cache entry')
  const tagText = raw.slice(c + 1, d)
  const json = raw.slice(d + 1)
  return {
    value: (json === '' ? undefined : JSON.parse(json)) as T,
    freshUntil: Number(raw.slice(4, a)),
    staleUntil: Number(raw.slice(a + 1, b)),
    generation: raw.slice(b + 1, c),
    tags: tagText === '' ? [] : tagText.split(',').map((pair) => pair.split('=') as [string, string])
  }
}

/** What `freshValue` answers for a value that is not fresh (stale, not an entry, bad JSON). */
export const NOT_FRESH: unique symbol = Symbol('not fresh')

/**
 * The epoch ms written in raw[from, to): plain digits are read in place (no
 * slice, no string to number conversion), anything else as `Number` reads it.
 */
function timeAt (raw: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const digit = raw.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return Number(raw.slice(from, to))
    n = n * 10 + digit
  }
  return n
}

/**
 * The value of a stored string when it is fresh at `now`, else NOT_FRESH (stale,
 * not an entry, bad JSON): the hit path of a raw key. It reads no more of the
 * envelope than it needs (a first-byte test, the fresh-until time in place, the
 * JSON's start), parses the JSON once, and wraps nothing.
 */
export function freshValue<T> (raw: string, now: number): T | typeof NOT_FRESH {
  try {
    // `c` (0x63) never starts JSON: the prefix test costs one byte unless it is an entry
    if (raw.charCodeAt(0) !== 0x63 || !raw.startsWith(MARK)) return JSON.parse(raw) as T
    const a = raw.indexOf('|', 4)
    if (a < 0 || !(now < timeAt(raw, 4, a))) return NOT_FRESH
    const b = raw.indexOf('|', a + 1)
    if (b < 0) return NOT_FRESH
    // no generation and no tags (every raw key's entry): the JSON starts three bytes on
    const d = raw.charCodeAt(b + 1) === 0x7c && raw.charCodeAt(b + 2) === 0x7c ? b + 2 : raw.indexOf('|', raw.indexOf('|', b + 1) + 1)
    if (d <= b) return NOT_FRESH
    return d === raw.length - 1 ? undefined as T : JSON.parse(raw.slice(d + 1)) as T
  } catch {
    return NOT_FRESH
  }
}
