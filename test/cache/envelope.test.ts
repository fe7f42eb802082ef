import t from 'tap'
import { decodeEntry, encodeEntry, freshValue, NOT_FRESH } from '../../lib/cache/envelope.js'
import { cacheClaim, cacheRelease } from '../../lib/cache/scripts.js'

// How a cache-aside value is stored: its freshness and generations with it, plain JSON still readable.

t.test('an entry round-trips, undefined and tags included', async (t) => {
  const entry = { value: { a: 'x|y' }, freshUntil: 10, staleUntil: 20, generation: 'g1', tags: [['user:1', 't1'], ['all', 't2']] as Array<[string, string]> }
  t.same(decodeEntry(encodeEntry(entry) as string), entry)
  const none = { value: undefined, freshUntil: 1, staleUntil: 2, generation: '', tags: [] }
  t.same(decodeEntry(encodeEntry(none) as string), none)
  t.equal(encodeEntry({ ...none, value: () => 1 }), undefined, 'no JSON form')
})

t.test('plain JSON reads as a fresh entry; a truncated or broken entry throws', async (t) => {
  t.match(decodeEntry('{"a":1}'), { value: { a: 1 }, freshUntil: Infinity, tags: [] })
  t.throws(() => decodeEntry('ck1|1|2|3'), /truncated/)
  t.throws(() => decodeEntry('ck1|1|2|g||{oops'))
})

t.test('freshValue: the value while fresh, else NOT_FRESH', async (t) => {
  const raw = encodeEntry({ value: { n: 5 }, freshUntil: 100, staleUntil: 200, generation: '', tags: [] }) as string
  t.same(freshValue(raw, 99), { n: 5 })
  t.not(freshValue(raw, 99), freshValue(raw, 99), 'each read decodes its own copy')
  t.equal(freshValue(raw, 100), NOT_FRESH)
  t.equal(freshValue(encodeEntry({ value: undefined, freshUntil: 100, staleUntil: 200, generation: '', tags: [] }) as string, 1), undefined)
  t.same(freshValue('[1,2]', 1), [1, 2])
  t.equal(freshValue('"ck1|9|9|||1"', 1), 'ck1|9|9|||1', 'a JSON string that looks like an entry is plain JSON')
  t.equal(freshValue('ck1|100|truncated', 1), NOT_FRESH)
  t.equal(freshValue('ck1|100|200|g', 1), NOT_FRESH)
  t.equal(freshValue('ck1|100', 1), NOT_FRESH)
  t.equal(freshValue('ck1|100|200|g||{oops', 1), NOT_FRESH)
  t.equal(freshValue('{oops', 1), NOT_FRESH)
})

t.test('freshValue reads a fresh-until time that is not plain digits as Number does', async (t) => {
  t.equal(freshValue('ck1|100.5|200|||7', 100.25), 7, 'a fraction of a millisecond')
  t.equal(freshValue('ck1|100.5|200|||7', 100.5), NOT_FRESH)
  t.equal(freshValue('ck1|1e3|2e3|||7', 999), 7)
  t.equal(freshValue('ck1|soon|200|||7', 1), NOT_FRESH, 'not a number: never fresh')
  t.equal(freshValue('ck1||200|||7', 0), NOT_FRESH, 'empty: 0, already past')
})

t.test('the lock scripts\' decoders', async (t) => {
  t.equal(cacheClaim.decode('tok'), 'tok')
  t.equal(cacheRelease.decode(1), true)
  t.equal(cacheRelease.decode(0), false)
})

t.test('freshValue finds the JSON past a generation and tags, and past none', async (t) => {
  const value = { s: 'a|b||c' }
  for (const [generation, tags] of [['', []], ['g1', []], ['', [['t', '1']]], ['g1', [['t', '1'], ['u', '2']]]] as Array<[string, Array<[string, string]>]>) {
    const raw = encodeEntry({ value, freshUntil: 100, staleUntil: 200, generation, tags }) as string
    t.same(freshValue(raw, 99), value, `generation ${JSON.stringify(generation)}, ${tags.length} tag(s)`)
  }
  t.equal(freshValue('ck1|100|200|', 1), NOT_FRESH, 'cut after the stale-until time')
  t.equal(freshValue('ck1|100|200||', 1), NOT_FRESH, 'cut inside the empty generation and tags')
  t.equal(freshValue('ck1|100|200|||', 1), undefined, 'nothing after the separators: undefined')
})
