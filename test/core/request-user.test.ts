import t from 'tap'
import { ipIdentity, userIdentity } from '../../lib/rate-limit/identity.js'
import { userIdOf } from '../../lib/request-user.js'
import { userSubject } from '../../plugins/authz-cache.js'
import type { FastifyRequest } from 'fastify'

// One reader of request.user: the authz guards and the rate limiter name the same user.

t.test('id, else sub, else the user itself', async (t) => {
  t.equal(userIdOf({ id: 'ann', sub: 'auth0|ann' }), 'ann', 'id first')
  t.equal(userIdOf({ sub: 'auth0|ann' }), 'auth0|ann', 'a JWT payload')
  t.equal(userIdOf({ id: null, sub: 'auth0|ann' }), 'auth0|ann', 'an unusable id gives way to sub')
  t.equal(userIdOf({ id: 42 }), '42')
  t.equal(userIdOf('bob'), 'bob')
  t.equal(userIdOf(7), '7')
})

t.test('nobody: no usable id anywhere', async (t) => {
  for (const user of [undefined, null, '', {}, { name: 'ann' }, { id: '' }, { id: { nested: 1 } }, { sub: Number.NaN }, Infinity, true]) {
    t.equal(userIdOf(user), undefined, JSON.stringify(user) ?? String(user))
  }
})

t.test('the guard\'s subject and the limiter\'s identity agree', async (t) => {
  for (const user of [{ sub: 'auth0|ann' }, { id: 42 }, 'bob', { name: 'nobody' }, undefined]) {
    const request = { ip: '192.0.2.1', user }
    const subject = userSubject(request as unknown as FastifyRequest)
    t.equal(userIdentity(request), subject === undefined ? ipIdentity(request) : `user:${subject}`, JSON.stringify(user) ?? 'no user')
  }
})
