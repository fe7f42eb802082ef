import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildApp } from '../../demo/app.js'
import { startRedis } from '../../harness/redis-server.js'

// The landing page in a real browser (`npm run test:browser`; Debian's
// Chromium, headless): the live numbers move when traffic comes, each scenario
// button shows its effect, the page shows a Redis outage, and /docs renders.
// It saves the screenshots the README shows (docs/img/, or BROWSER_SCREENSHOTS_DIR).

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOTS = process.env.BROWSER_SCREENSHOTS_DIR ?? fileURLToPath(new URL('../../docs/img', import.meta.url))
/** Longest wait for anything the page should show: the page polls once a second. */
const WAIT_MS = 15_000

t.setTimeout(150_000)

if (!existsSync(CHROMIUM)) {
  t.fail(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`)
  process.exit(1)
}
mkdirSync(SCREENSHOTS, { recursive: true })

async function serve (test: Test, env: Record<string, string>): Promise<{ app: FastifyInstance, base: string }> {
  const app = await buildApp({ LOG_LEVEL: 'silent', ...env })
  test.teardown(() => app.close())
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, base: address }
}

async function browser (test: Test): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'cachekit-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  context.setDefaultTimeout(WAIT_MS)
  test.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

const number = async (page: Page, selector: string): Promise<number> => Number((await page.textContent(selector))?.replace(/[^0-9]/g, ''))

/** Waits until the text of `selector` is a number at least `min`. */
async function atLeast (page: Page, selector: string, min: number): Promise<void> {
  await page.waitForFunction(([s, m]) => Number(document.querySelector(s as string)?.textContent?.replace(/[^0-9]/g, '')) >= (m as number), [selector, min])
}

/** Clicks a scenario's button and answers the sentence it shows when done. */
async function runScenario (page: Page, id: string): Promise<string> {
  await page.click(`#scenario-${id} button`)
  await page.waitForSelector(`#scenario-${id} output[data-state="done"], #scenario-${id} output[data-state="failed"]`)
  return (await page.textContent(`#scenario-${id} output`)) ?? ''
}

/** The row of the rate-limit panel for `policy`, as its cells' texts. */
async function policyRow (page: Page, policy: string): Promise<string[]> {
  return await page.$$eval('#rate-limit-rows tr', (rows, p) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? ''))
    .find((cells) => cells[0] === p) ?? [], policy)
}

t.test('the landing page on Redis, then through an outage; the API reference', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const { base } = await serve(t, { REDIS_URL: redis.url, CACHE_COMMAND_TIMEOUT_MS: '100' })
  const context = await browser(t)
  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))

  await page.goto(base + '/')
  await page.waitForSelector('#store-banner[data-state="up"]')
  t.match(await page.textContent('#store-banner'), /Redis is up/)
  t.equal(await page.textContent('#node-rows td:nth-child(3)'), 'closed', 'the node\'s circuit is closed')

  // live numbers: traffic sent from outside the page shows up within a poll or two
  const before = await number(page, '#total-requests')
  await Promise.all(Array.from({ length: 20 }, () => fetch(base + '/health')))
  await atLeast(page, '#total-requests', before + 20)
  t.pass('the traffic total moved by the 20 requests sent')

  const burst = await runScenario(page, 'login-burst')
  t.match(burst, /^5 logged in, 3 refused with 429/)
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLTableRowElement>('#rate-limit-rows tr')].some((r) => r.cells[0]?.textContent === 'POST /login' && Number(r.cells[3]?.textContent) >= 3))
  const [, limit, allowed, refused, fromDenyCache] = await policyRow(page, 'POST /login')
  t.same([limit, allowed, refused], ['5 / 60 s', '5', '3'], 'the login policy\'s decisions')
  t.match(fromDenyCache, /^2 \(67 %\)$/, 'repeated refusals come from the deny cache')
  await atLeast(page, '#sessions-created', 5)

  t.match(await runScenario(page, 'stampede'), /^40 × 200, 0 other; 1 load\(s\) of the slow source/)
  await atLeast(page, '#loader-calls', 1)
  t.pass('the stampede on the slow source is one load, counted')

  t.match(await runScenario(page, 'logout-everywhere'), /^revoked 5 session\(s\) of 5 listed; this page afterwards: 401 \(signed out\)/)
  await atLeast(page, '#sessions-logged-out', 1)

  t.match(await runScenario(page, 'oauth-replay'), /^callback 200, replay 400/)
  await atLeast(page, '#oauth-consumed', 1)
  await atLeast(page, '#oauth-refused', 1)

  t.match(await runScenario(page, 'role-change'), /^with the role: 200; after revoking it: 403/)
  await atLeast(page, '#authz-invalidations', 2)
  t.pass('each scenario\'s panel moved')

  t.match(await page.textContent('#stale-serves'), /^\d+$/, 'cache-aside\'s numbers are measured now')
  await page.waitForTimeout(1200) // one more poll, so the plot has the last second
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png'), fullPage: true })

  // the outage: the page says so and what each plugin does meanwhile, and the circuit opens
  await redis.kill()
  await page.waitForSelector('#store-banner[data-state="down"]')
  await page.waitForSelector('#degraded:not([hidden])')
  t.match(await page.textContent('#degraded'), /oauth-state: OAuth states are refused/)
  await page.waitForFunction(() => ['open', 'half-open'].includes(document.querySelector('#node-rows td:nth-child(3)')?.textContent ?? ''))
  t.pass('the circuit is no longer closed')
  // the slow source still answers, without the cache (single flight still shares its loads); the rate limiter lets the reads through (fail-open)
  t.match(await runScenario(page, 'stampede'), /^40 × 200/)
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLTableRowElement>('#namespace-rows tr')].some((r) => r.cells[0]?.textContent === 'accounts' && Number(r.cells[5]?.textContent) >= 40))
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLTableRowElement>('#rate-limit-rows tr')].some((r) => r.cells[0]?.textContent === 'GET /users/:userId/accounts' && Number(r.cells[5]?.textContent) >= 40))
  t.pass('the stampede is answered without the cache (degraded) and let through by the limiter')
  // OAuth state fails closed: the login cannot start
  t.match(await runScenario(page, 'oauth-replay'), /^start answered 503/)
  await atLeast(page, '#total-errors', 1)
  t.pass('the refusal shows among the errors')
  await page.waitForTimeout(1200)
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-redis-down.png'), fullPage: true })

  // the API reference, rendered by Swagger UI from the package
  await page.goto(base + '/docs')
  await page.waitForSelector('.opblock-tag-section')
  const sections = await page.$$eval('.opblock-tag', (tags) => tags.map((tag) => tag.getAttribute('data-tag')))
  t.same(sections, ['session-cache', 'authz-cache', 'oauth-state', 'cache', 'metrics', 'health', 'dashboard'])
  await page.screenshot({ path: join(SCREENSHOTS, 'api-reference.png') })
  await page.click('.opblock-summary-path[data-path="/login"]')
  await page.waitForSelector('.opblock.is-open .responses-table')
  t.ok(await page.$('.opblock.is-open .response[data-code="429"]'), 'POST /login shows its 429')
  t.same(pageErrors, [], 'no script error on any page')
})

t.test('the landing page on the memory store', async (t) => {
  const { base } = await serve(t, {})
  const page = await (await browser(t)).newPage()
  await page.goto(base + '/')
  await page.waitForSelector('#store-banner[data-state="memory"]')
  t.match(await page.textContent('#node-rows'), /in-memory store has no circuit/)
  t.match(await runScenario(page, 'oauth-replay'), /^callback 200, replay 400/)
  await atLeast(page, '#oauth-issued', 1)
})
