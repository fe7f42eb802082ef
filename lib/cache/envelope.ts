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

/**
 * The value of a stored string when it is fresh at `now`, else undefined (stale,
 * not an entry, bad JSON): the hit path of a raw key, reading no more of the
 * envelope than it needs.
 */
export function freshEntry<T> (raw: string, now: number): { value: T } | undefined {
  try {
    if (!raw.startsWith(MARK)) return { value: JSON.parse(raw) as T }
    const a = raw.indexOf('|', 4)
    if (!(now < Number(raw.slice(4, a)))) return undefined
    const b = raw.indexOf('|', a + 1)
    const c = raw.indexOf('|', b + 1)
    const d = raw.indexOf('|', c + 1)
    if (Math.min(b, c, d) < 0) return undefined
    const json = raw.slice(d + 1)
    return { value: (json === '' ? undefined : JSON.parse(json)) as T }
  } catch {
    return undefined
  }
}
