import Fastify from 'fastify'
import t from 'tap'
import { failureProblem, problem, PROBLEM_CODES, ProblemResponse, sendProblem, type Problem } from '../../lib/problem.js'
import { fail, type ErrorCode } from '../../lib/result.js'

// The one error body: RFC 9457 problem details with a stable code, and the one Failure → HTTP mapping.

t.test('a problem body: the code picks status and title', async (t) => {
  t.same(problem('NOT_FOUND', 'no such session of yours', '/me/sessions/x'), {
    type: 'about:blank', title: 'Not Found', status: 404, detail: 'no such session of yours', instance: '/me/sessions/x', code: 'NOT_FOUND'
  })
  t.same(problem('RATE_LIMITED', 'slow down', '/a', { type: 'https://example.com/limited', retryAfter: 3 }), {
    type: 'https://example.com/limited', title: 'Too Many Requests', status: 429, detail: 'slow down', instance: '/a', code: 'RATE_LIMITED', retryAfter: 3
  })
  for (const [code, { status }] of Object.entries(PROBLEM_CODES)) {
    t.equal(problem(code as keyof typeof PROBLEM_CODES, 'd', '/').status, status, `${code} is ${status}`)
  }
})

t.test('a failure: bad input keeps its message, anything else a fixed sentence', async (t) => {
  const leaky = "Stream isn't writeable and enableOfflineQueue options is false"
  const expected: Record<ErrorCode, [number, string, string]> = {
    INVALID_ARGUMENT: [400, 'INVALID_ARGUMENT', leaky],
    TIMEOUT: [503, 'UNAVAILABLE', 'The session cache is unavailable; try again later.'],
    UNAVAILABLE: [503, 'UNAVAILABLE', 'The session cache is unavailable; try again later.'],
    DECODE: [500, 'INTERNAL', 'The session cache failed to answer.'],
    ENCODE: [500, 'INTERNAL', 'The session cache failed to answer.'],
    SCRIPT: [500, 'INTERNAL', 'The session cache failed to answer.'],
    INTERNAL: [500, 'INTERNAL', 'The session cache failed to answer.'],
    LOADER: [500, 'INTERNAL', 'The session cache failed to answer.']
  }
  for (const [error, [status, code, detail]] of Object.entries(expected)) {
    t.match(failureProblem(fail(error as ErrorCode, leaky), '/s', 'session cache'), { status, code, detail, instance: '/s' }, error)
  }
})

t.test('sendProblem: the status, application/problem+json, the body', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/gone', { schema: { response: { 404: ProblemResponse } } }, async (request, reply) =>
    sendProblem(reply, problem('NOT_FOUND', 'nothing here', request.url)))
  app.get('/bare', async (request, reply) => sendProblem(reply, problem('UNAVAILABLE', 'later', request.url, { retryAfter: 5 })))
  const gone = await app.inject('/gone')
  t.equal(gone.statusCode, 404)
  t.match(gone.headers['content-type'], /^application\/problem\+json/)
  t.same(gone.json(), problem('NOT_FOUND', 'nothing here', '/gone'))
  const bare = await app.inject('/bare')
  t.equal(bare.statusCode, 503)
  t.same(bare.json() as Problem, problem('UNAVAILABLE', 'later', '/bare', { retryAfter: 5 }), 'without a response schema too')
})
