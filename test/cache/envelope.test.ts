import t from 'tap'
import { decodeEntry, encodeEntry, freshEntry } from '../../lib/cache/envelope.js'
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

t.test('freshEntry: the value while fresh, else undefined', async (t) => {
  const raw = encodeEntry({ value: 5, freshUntil: 100, staleUntil: 200, generation: '', tags: [] }) as string
  t.same(freshEntry(raw, 99), { value: 5 })
  t.equal(freshEntry(raw, 100), undefined)
  t.same(freshEntry(encodeEntry({ value: undefined, freshUntil: 100, staleUntil: 200, generation: '', tags: [] }) as string, 1), { value: undefined })
  t.same(freshEntry('[1,2]', 1), { value: [1, 2] })
  t.equal(freshEntry('ck1|100|truncated', 1), undefined)
  t.equal(freshEntry('ck1|100|200|g', 1), undefined)
  t.equal(freshEntry('{oops', 1), undefined)
})

t.test('the lock scripts\' decoders', async (t) => {
  t.equal(cacheClaim.decode('tok'), 'tok')
  t.equal(cacheRelease.decode(1), true)
  t.equal(cacheRelease.decode(0), false)
})
