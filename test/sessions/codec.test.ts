import t from 'tap'
import { SessionCodec } from '../../lib/session/codec.js'
import { parseEncryptionKeys, SessionCipher } from '../../lib/session/crypto.js'
import { STORED_FIELDS, toStored } from '../../lib/session/schema.js'
import { fullSession, KEY_A, KEY_B, sessionCache } from '../helpers/sessions.js'
import { memoryStore } from '../helpers/stores.js'

// The codec and cipher alone: what is stored, and what a read refuses.
const cache = sessionCache(memoryStore('codec').store)
const session = fullSession(cache, 'u1')
const ID = session.id

t.test('cipher: seals with the first key, opens with any listed key', async (t) => {
  const a = new SessionCipher([{ id: 'a', key: KEY_A }])
  const ba = new SessionCipher([{ id: 'b', key: Buffer.from(KEY_B, 'base64') }, { id: 'a', key: KEY_A }])
  t.equal(ba.currentKeyId, 'b')
  const sealedByA = a.encrypt('hello', ID)
  t.match(sealedByA, /^enc1\.a\.[\w-]+\.[\w-]+\.[\w-]+$/)
  t.not(a.encrypt('hello', ID), sealedByA, 'a fresh IV each time')
  t.equal(ba.decrypt(sealedByA, ID), 'hello', 'rotation: the old key still opens')
  t.equal(a.decrypt(ba.encrypt('x', ID), ID), null, 'a key it does not have')
  t.equal(a.decrypt(sealedByA, 'another-id'), null, 'moved under another id')
})

t.test('cipher: anything malformed or tampered opens to null', async (t) => {
  const a = new SessionCipher([{ id: 'a', key: KEY_A }])
  const [format, keyId, iv, tag, sealed] = a.encrypt('hello', ID).split('.') as string[]
  const flip = (s: string): string => (s[0] === 'A' ? 'B' : 'A') + s.slice(1)
  for (const value of [
    'plain text', '{"json":true}', '',
    ['enc2', keyId, iv, tag, sealed].join('.'),
    [format, keyId, iv, tag].join('.'),
    [format, keyId, iv, tag, sealed, 'extra'].join('.'),
    [format, keyId, flip(iv as string), tag, sealed].join('.'),
    [format, keyId, iv, flip(tag as string), sealed].join('.'),
    [format, keyId, iv, (tag as string).slice(0, 6), sealed].join('.'),
    [format, keyId, '', tag, sealed].join('.'),
    [format, keyId, iv, tag, flip(sealed as string)].join('.')
  ]) {
    t.equal(a.decrypt(value, ID), null, JSON.stringify(value).slice(0, 40))
  }
})

t.test('cipher: bad keys are configuration errors', async (t) => {
  t.throws(() => new SessionCipher([]), /at least one key/)
  t.throws(() => new SessionCipher([{ id: 'bad id', key: KEY_A }]), /key id/)
  t.throws(() => new SessionCipher([{ id: 'a', key: KEY_A }, { id: 'a', key: KEY_B }]), /twice/)
  t.throws(() => new SessionCipher([{ id: 'a', key: Buffer.alloc(16) }]), /32 bytes/)
})

t.test('parseEncryptionKeys', async (t) => {
  t.same(parseEncryptionKeys(''), [])
  t.same(parseEncryptionKeys(' '), [])
  t.same(parseEncryptionKeys(`new:${KEY_B}, old:${KEY_A}`), [{ id: 'new', key: KEY_B }, { id: 'old', key: KEY_A }])
  t.throws(() => parseEncryptionKeys('nokey'), /id:base64key/)
  t.throws(() => parseEncryptionKeys(':abc'), /id:base64key/)
})

t.test('codec: round trip, plain and sealed', async (t) => {
  const plain = new SessionCodec()
  const encoded = plain.encode(session)
  t.ok(encoded.ok)
  const stored = JSON.parse(encoded.ok ? encoded.value : '')
  t.same(stored, toStored(session, null), 'plain JSON')
  t.equal(stored[0], 2, 'format number first')
  t.equal(stored[1 + STORED_FIELDS.indexOf('createdAt')], session.createdAt.getTime(), 'dates as epoch ms')
  t.same(plain.decode(ID, encoded.ok ? encoded.value : ''), { ok: true, value: session })
  const sealed = new SessionCodec(new SessionCipher([{ id: 'a', key: KEY_A }]))
  t.equal(sealed.encrypted, true)
  t.equal(plain.encrypted, false)
  const enc = sealed.encode(session)
  t.same(sealed.decode(ID, enc.ok ? enc.value : ''), { ok: true, value: session })
})

t.test('codec: what a read refuses is DECODE with a reason', async (t) => {
  const plain = new SessionCodec()
  const sealed = new SessionCodec(new SessionCipher([{ id: 'a', key: KEY_A }]))
  const json = JSON.stringify(toStored(session, null))
  const withField = (field: string, value: unknown): string => {
    const stored: unknown[] = toStored(session, null)
    stored[1 + STORED_FIELDS.indexOf(field as never)] = value
    return JSON.stringify(stored)
  }
  const cases: Array<[SessionCodec, string, RegExp]> = [
    [plain, '{nope', /not JSON/],
    [plain, sealed.encode(session).ok ? (sealed.encode(session) as { value: string }).value : '', /not JSON/],
    [plain, 'null', /fails the schema.*: session:/],
    [plain, withField('createdAt', '2024-01-01'), /fails the schema.*: createdAt: Expected integer/],
    [plain, withField('deviceInfo', { nested: { deep: 1 } }), /fails the schema.*: deviceInfo/],
    [plain, withField('providersAccessed', ['ok', 7]), /fails the schema.*: providersAccessed\.1:/],
    [plain, JSON.stringify([1, ...toStored(session, null).slice(1)]), /fails the schema.*: format:/],
    [plain, JSON.stringify([...toStored(session, null), 'added later']), /fails the schema.*: session:/],
    [plain, JSON.stringify({ id: ID }), /fails the schema.*: session:/],
    [plain, withField('id', fullSession(cache, 'u1').id), /another id/],
    [sealed, json, /does not authenticate/]
  ]
  for (const [codec, stored, reason] of cases) {
    const r = codec.decode(ID, stored)
    t.equal(!r.ok && r.error.code, 'DECODE')
    t.match(!r.ok && r.error.message, reason)
  }
})

t.test('codec: a field outside the schema is refused by name, never dropped', async (t) => {
  const plain = new SessionCodec()
  const encoded = plain.encode({ ...session, cart: ['book'] } as never)
  t.equal(!encoded.ok && encoded.error.code, 'INVALID_ARGUMENT')
  t.match(!encoded.ok && encoded.error.message, /cart: Unexpected property \(free-form values go in data/)
  const inData = plain.encode({ ...session, data: { cart: ['book'], at: new Date(5) } })
  t.same(plain.decode(ID, inData.ok ? inData.value : ''), { ok: true, value: { ...session, data: { cart: ['book'], at: new Date(5) } } })
})
