import { fail, ok, type Result } from '../result.js'

/**
 * Free-form session data as JSON that gives back what went in: Dates come back
 * as Dates (to the millisecond), and a value JSON would change or drop
 * silently (a function, a symbol, a BigInt, NaN, an invalid Date, `undefined`
 * in an array) is refused with the path to it, never lost. `undefined` object
 * properties are absent, as in JSON. An object with a `toJSON` method is
 * stored as what that method answers (as JSON.stringify does).
 *
 * A Date is written `{"$date": <epoch ms>}`; an object of the caller's whose
 * only key is `$date` or `$esc` is written `{"$esc": [[key, value]]}`, so no
 * data can pass itself off as a Date.
 */

const DATE = '$date'
const ESC = '$esc'

/**
 * A JSON-ready form of `value`, or INVALID_ARGUMENT naming the first value
 * that is not data. Data that JSON.stringify already writes as it should be
 * stored (the common case: no Date, nothing JSON would change) is answered as
 * it is, checked without a copy; the rest is copied with its Dates marked.
 */
export function toJsonData (value: unknown, path = 'data'): Result<unknown> {
  if (isPlain(value)) return ok(value)
  const out = encodeValue(value, path)
  return out instanceof NotData ? fail('INVALID_ARGUMENT', `${out.path}: ${out.why} is not JSON data`) : ok(out)
}

/** Whether a stored string may hold a marked Date or escape (so `fromJsonData` has work to do). */
export function hasMarkers (json: string): boolean {
  return json.includes('"$date"') || json.includes('"$esc"')
}

/** The data `toJsonData` encoded, as parsed from JSON: Dates revived, escapes undone. */
export function fromJsonData (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map(fromJsonData)
  const keys = Object.keys(value)
  const only = keys.length === 1 ? (value as Record<string, unknown>)[keys[0] as string] : undefined
  if (keys[0] === DATE && typeof only === 'number') return new Date(only)
  if (keys[0] === ESC && Array.isArray(only)) {
    return Object.fromEntries((only as Array<[string, unknown]>).map(([k, v]) => [k, fromJsonData(v)]))
  }
  return Object.fromEntries(keys.map((k) => [k, fromJsonData((value as Record<string, unknown>)[k])]))
}

/**
 * Whether JSON.stringify(value) writes what encodeValue would: strings,
 * booleans, finite numbers, null, arrays without holes or undefined, and
 * plain objects (whose undefined properties both leave out) not shaped like a
 * marker. Anything else (a Date, a toJSON method, a class instance, what is
 * not data) is left to encodeValue.
 */
function isPlain (value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object':
      break
    default:
      return false
  }
  if (value === null) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlain(value[i])) return false
    return true
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  let defined = 0
  let only = ''
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key]
    if (v === undefined) continue
    if (!isPlain(v)) return false
    defined++
    only = key
  }
  return defined !== 1 || (only !== DATE && only !== ESC)
}

class NotData {
  constructor (readonly path: string, readonly why: string) {}
}

function encodeValue (value: unknown, path: string): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) ? value : new NotData(path, String(value))
    case 'object':
      break
    default:
      return new NotData(path, `a ${typeof value}`)
  }
  if (value === null) return null
  if (value instanceof Date) {
    const ms = value.getTime()
    return Number.isNaN(ms) ? new NotData(path, 'an invalid Date') : { [DATE]: ms }
  }
  if (Array.isArray(value)) {
    const out: unknown[] = []
    for (let i = 0; i < value.length; i++) {
      const item = value[i] === undefined ? new NotData(`${path}.${i}`, 'undefined') : encodeValue(value[i], `${path}.${i}`)
      if (item instanceof NotData) return item
      out.push(item)
    }
    return out
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') return encodeValue(toJSON.call(value), path)
  const entries: Array<[string, unknown]> = []
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key]
    if (v === undefined) continue
    const item = encodeValue(v, `${path}.${key}`)
    if (item instanceof NotData) return item
    entries.push([key, item])
  }
  if (entries.length === 1 && (entries[0]?.[0] === DATE || entries[0]?.[0] === ESC)) return { [ESC]: entries }
  return Object.fromEntries(entries)
}
