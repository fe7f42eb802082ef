import type { RouteOptions } from 'fastify'
import { readdirSync } from 'node:fs'
import t from 'tap'
import { tagRoutes } from '../../demo/api-tags.js'
import { registerOpenApi } from '../../demo/openapi.js'
import { PROBLEM_CONTENT_TYPE } from '../../lib/problem.js'
import { cachekitApp } from '../helpers/apps.js'
import { demoApp } from '../helpers/demo.js'

// The API reference: every route the demo adds is in the OpenAPI document with
// its request and response schemas. The routes are listed as the app adds them
// (an onRoute hook), so a route added later is checked without editing this file.

interface Operation {
  tags?: string[]
  description?: string
  parameters?: Array<{ in: string, name: string, schema?: object }>
  requestBody?: { content: Record<string, { schema?: object }> }
  responses: Record<string, { description?: string, content?: Record<string, { schema?: object }> }>
}
interface OpenApiDocument { openapi: string, tags: Array<{ name: string }>, paths: Record<string, Record<string, Operation>> }

/** The files the landing page serves: the only routes (besides Swagger UI's own) allowed to stay out of the reference. */
const PUBLIC_FILES = readdirSync(new URL('../../demo/public', import.meta.url))

function hiddenOnPurpose (route: RouteOptions): boolean {
  return route.url.startsWith('/docs') || route.url === '/' || PUBLIC_FILES.includes(route.url.slice(1))
}

const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

t.test('every route is in the OpenAPI 3.1 document, tagged, with its request and response schemas', async (t) => {
  const routes: RouteOptions[] = []
  const app = await demoApp(t, 'memory', {}, { onRoute: (route) => { routes.push(route) } })
  const answer = await app.inject('/docs/json')
  t.equal(answer.statusCode, 200)
  const doc = answer.json<OpenApiDocument>()
  t.equal(doc.openapi, '3.1.0')
  const tagNames = new Set(doc.tags.map((tag) => tag.name))

  const documented = routes.filter((route) => route.method !== 'HEAD' && route.schema?.hide !== true)
  const hidden = routes.filter((route) => route.method !== 'HEAD' && route.schema?.hide === true)
  t.ok(documented.length >= 17, `the demo's routes are seen (${documented.length})`)
  t.same(hidden.filter((route) => !hiddenOnPurpose(route)).map((route) => route.url), [], 'only the landing page\'s files and Swagger UI are hidden')

  for (const route of documented) {
    const method = String(route.method).toLowerCase()
    const name = `${String(route.method)} ${route.url}`
    const op = doc.paths[openApiPath(route.url)]?.[method]
    if (op === undefined) { t.fail(`${name} is missing from the document`); continue }
    t.ok(op.tags !== undefined && op.tags.length > 0 && op.tags.every((tag) => tagNames.has(tag)), `${name} has a declared tag`)

    // request: every path parameter, the query string, the body
    for (const param of route.url.match(/:[A-Za-z0-9_]+/g) ?? []) {
      t.ok(op.parameters?.some((p) => p.in === 'path' && p.name === param.slice(1) && p.schema !== undefined), `${name}: path parameter ${param} has a schema`)
    }
    const schema = route.schema as { querystring?: { properties: object }, body?: object } | undefined
    for (const query of Object.keys(schema?.querystring?.properties ?? {})) {
      t.ok(op.parameters?.some((p) => p.in === 'query' && p.name === query && p.schema !== undefined), `${name}: query parameter ${query} has a schema`)
    }
    if (schema?.body !== undefined) t.ok(op.requestBody?.content['application/json']?.schema, `${name}: its body has a schema`)

    // responses: a success with its schema (a 204 has no body), and each error body a problem+json
    const statuses = Object.keys(op.responses)
    const success = statuses.filter((s) => s.startsWith('2'))
    t.ok(success.length > 0, `${name} documents a success`)
    for (const status of success) {
      if (status === '204') continue
      const content = Object.values(op.responses[status]?.content ?? {})
      t.ok(content.length > 0 && content.every((c) => c.schema !== undefined), `${name} ${status} has a body schema`)
    }
    for (const status of statuses.filter((s) => /^(4|5)/.test(s) && s !== '429' && !(route.url === '/health/ready' && s === '503'))) {
      t.ok(op.responses[status]?.content?.[PROBLEM_CONTENT_TYPE]?.schema, `${name} ${status} is problem+json`)
    }
  }
})

t.test('rate-limited routes document their 429 and policy; exempt ones do not', async (t) => {
  const app = await demoApp(t, 'memory')
  const doc = (await app.inject('/docs/json')).json<OpenApiDocument>()
  const login = doc.paths['/login']?.post
  t.ok(login?.responses['429']?.content?.['application/json'], 'POST /login documents its 429')
  t.match(login?.description, /Rate limit: 5 per 60 s per client/)
  t.equal(doc.paths['/health/ready']?.get?.responses['429'], undefined, 'the probes are not limited')
})

t.test('Swagger UI at /docs is served from the package, its assets too', async (t) => {
  const app = await demoApp(t, 'memory')
  const page = await app.inject('/docs')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  const scripts = [...page.body.matchAll(/src="([^"]+)"/g)].map((m) => m[1] as string)
  t.ok(scripts.length > 0, 'the page loads scripts')
  t.ok(scripts.every((src) => !/^(https?:)?\/\//.test(src)), 'none from another host')
  const initializer = await app.inject('/docs/static/swagger-initializer.js')
  t.equal(initializer.statusCode, 200)
  t.match(initializer.body, /validatorUrl: null/, 'no call to the online validator')
  t.equal((await app.inject('/docs/static/swagger-ui-bundle.js')).statusCode, 200)
})

t.test('outside the demo: a route\'s own tags stay, and a default policy is documented as such', async (t) => {
  const app = await cachekitApp(t, 'memory', { rateLimit: { global: true } })
  await registerOpenApi(app)
  await app.register(async (scope) => {
    scope.addHook('onRoute', tagRoutes('metrics'))
    scope.get('/plain', async () => 'no schema')
    scope.get('/own', { schema: { tags: ['health'] } }, async () => 'tagged')
  })
  const doc = (await app.inject('/docs/json')).json<OpenApiDocument>()
  t.same(doc.paths['/plain']?.get?.tags, ['metrics'], 'a route without a schema gets the plugin\'s tag')
  t.same(doc.paths['/own']?.get?.tags, ['health'], 'a route naming its tags keeps them')
  t.match(doc.paths['/plain']?.get?.description, /Rate limit: the default policy/)
})
