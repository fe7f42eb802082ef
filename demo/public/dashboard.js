// The landing page's script: polls GET /dashboard/data once a second and draws
// the panels, and runs the scenarios of SCENARIOS against this same server.
// Plain browser JavaScript, no build step and nothing fetched from elsewhere.

const POLL_MS = 1000
const VISITOR = 'visitor'

/** fetch, answering { status, body } (body: parsed JSON, or null). `credentials: 'omit'`: as another browser would, without this page's cookie. */
async function call (method, url, { body, headers, credentials } = {}) {
  const response = await fetch(url, {
    method,
    credentials,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  let parsed = null
  try { parsed = text === '' ? null : JSON.parse(text) } catch { parsed = null }
  return { status: response.status, body: parsed }
}

/** How many of `statuses` equal `status`. */
const count = (statuses, status) => statuses.filter((s) => s === status).length

/**
 * The scenarios, one row each: which plugin it shows, what it does, and `run`,
 * which drives the demo's routes and answers the sentence shown under the
 * button. When a route moves, its row is the one place to change.
 */
const SCENARIOS = [
  {
    id: 'login-burst',
    title: 'Login burst',
    plugin: 'rate limit',
    explains: `8 sign-ins as "${VISITOR}" in a row from this address (the first four as other devices, without this page's cookie). POST /login allows 5 a minute per client: the rest get 429, the repeats answered from the deny cache without a Redis call.`,
    async run () {
      const statuses = []
      for (let i = 0; i < 8; i++) statuses.push((await call('POST', '/login', { body: { userId: VISITOR }, credentials: i < 4 ? 'omit' : 'same-origin' })).status)
      return `${count(statuses, 201)} logged in, ${count(statuses, 429)} refused with 429 (${statuses.join(' ')})`
    }
  },
  {
    id: 'stampede',
    title: 'Stampede on the slow source',
    plugin: 'cache',
    explains: `Drops the cached account list of "${VISITOR}", then sends 40 concurrent GET /users/${VISITOR}/accounts: the source takes 50 ms per load, and single flight (plus the load lock across instances) makes it one load for all 40.`,
    async run () {
      await call('DELETE', `/users/${VISITOR}/accounts/cache`)
      const replies = await Promise.all(Array.from({ length: 40 }, () => call('GET', `/users/${VISITOR}/accounts`)))
      const statuses = replies.map((r) => r.status)
      const loads = new Set(replies.filter((r) => r.status === 200).map((r) => r.body.loadedAt)).size
      return `${count(statuses, 200)} × 200, ${statuses.length - count(statuses, 200)} other; ${loads} load(s) of the slow source; see the cache-aside loader calls`
    }
  },
  {
    id: 'logout-everywhere',
    title: 'Log out everywhere',
    plugin: 'session cache',
    explains: `Signed in as "${VISITOR}" (signing in first if need be), lists your sessions (GET /me/sessions), then logs out everywhere (DELETE /me/sessions): every device of yours in one call, through the per-user index; this page is signed out too.`,
    async run () {
      let listed = await call('GET', '/me/sessions')
      if (listed.status === 401) {
        const login = await call('POST', '/login', { body: { userId: VISITOR } })
        if (login.status !== 201) return `signing in answered ${login.status}`
        listed = await call('GET', '/me/sessions')
      }
      const deleted = await call('DELETE', '/me/sessions')
      if (deleted.status !== 200) return `log out everywhere answered ${deleted.status}`
      const after = (await call('GET', '/me/sessions')).status
      return `revoked ${deleted.body.deleted} session(s) of ${listed.body?.sessions?.length ?? 0} listed; this page afterwards: ${after}${after === 401 ? ' (signed out)' : ''}`
    }
  },
  {
    id: 'oauth-replay',
    title: 'OAuth state replay',
    plugin: 'oauth state',
    explains: 'Starts an OAuth login, comes back once with its state (accepted), then replays the same callback (refused: a state is good once).',
    async run () {
      const started = await call('POST', '/oauth/demo/start', { body: { userId: VISITOR } })
      if (started.status !== 201) return `start answered ${started.status}`
      const callback = `/oauth/demo/callback?code=demo-code&state=${encodeURIComponent(started.body.state)}`
      const first = await call('GET', callback)
      const replay = await call('GET', callback)
      return `callback ${first.status}, replay ${replay.status}${replay.status === 400 ? ' (refused)' : ''}`
    }
  },
  {
    id: 'role-change',
    title: 'Role change',
    plugin: 'authz cache',
    explains: 'Grants carol the role user, reads an account (allowed, now cached), revokes the role and reads again: the cached allow is invalidated at once.',
    async run () {
      const read = async () => (await call('GET', '/accounts/acct-1', { headers: { 'x-user-id': 'carol' } })).status
      await call('PUT', '/users/carol/roles/user')
      const granted = await read()
      await call('DELETE', '/users/carol/roles/user')
      const revoked = await read()
      return `with the role: ${granted}; after revoking it: ${revoked}${revoked === 403 ? ' (denied at once)' : ''}`
    }
  }
]

// ---- rendering ----

const $ = (id) => document.getElementById(id)
const fmt = (n) => n === null || n === undefined ? 'n/a' : Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2)
const pct = (n) => `${(n * 100).toFixed(0)} %`

/** Sets an element's text; a missing number shows "n/a", greyed. */
function show (id, value) {
  const el = $(id)
  el.textContent = fmt(value)
  el.classList.toggle('na', value === null || value === undefined)
  if (value === null) el.title = 'not measured by this build'
}

/** Replaces a table body's rows; `cells` gives each row's cells as text or { text, className }. */
function rows (id, items, cells, empty) {
  const body = $(id)
  body.replaceChildren()
  if (items.length === 0) {
    const tr = body.insertRow()
    const td = tr.insertCell()
    td.colSpan = body.closest('table').tHead.rows[0].cells.length
    td.className = 'muted'
    td.textContent = empty
    return
  }
  for (const item of items) {
    const tr = body.insertRow()
    for (const cell of cells(item)) {
      const td = tr.insertCell()
      if (typeof cell === 'object' && cell !== null) {
        td.textContent = cell.text
        td.className = cell.className
      } else {
        td.textContent = cell
      }
    }
  }
}

function renderStore (store) {
  const banner = $('store-banner')
  if (store.kind === 'memory') {
    banner.dataset.state = 'memory'
    banner.textContent = 'In-memory store (no REDIS_URL): everything works on this one instance; set REDIS_URL to share state between instances.'
  } else if (store.status === 'up') {
    banner.dataset.state = 'up'
    banner.textContent = `Redis is up (ping ${store.latencyMs === null ? 'n/a' : store.latencyMs.toFixed(1) + ' ms'}).`
  } else {
    banner.dataset.state = 'down'
    banner.textContent = 'Redis is down: the service rides it out, degraded. What each plugin does meanwhile:'
  }
  const list = $('degraded')
  list.replaceChildren(...store.degraded.map((d) => {
    const li = document.createElement('li')
    const name = document.createElement('b')
    name.textContent = d.component
    li.append(name, `: ${d.effect}`)
    return li
  }))
  list.hidden = store.degraded.length === 0
}

const SVG = 'http://www.w3.org/2000/svg'
function svg (name, attributes, text) {
  const el = document.createElementNS(SVG, name)
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v))
  if (text !== undefined) el.textContent = text
  return el
}

/** The traffic plot: one polyline per series over the last minutes, the y axis scaled to the largest value. */
function renderTraffic (traffic) {
  const plot = $('traffic-plot')
  const [w, h, left, top, bottom] = [640, 170, 34, 8, 18]
  const n = traffic.requests.length
  const max = Math.max(1, ...traffic.requests)
  const x = (i) => left + (i / Math.max(1, n - 1)) * (w - left - 4)
  const y = (v) => top + (1 - v / max) * (h - top - bottom)
  const children = [
    svg('line', { class: 'axis', x1: left, y1: y(0), x2: w - 4, y2: y(0) }),
    svg('line', { class: 'axis', x1: left, y1: top, x2: w - 4, y2: top }),
    svg('text', { x: left - 4, y: top + 4, 'text-anchor': 'end' }, String(max)),
    svg('text', { x: left - 4, y: y(0) + 3, 'text-anchor': 'end' }, '0')
  ]
  const minutes = Math.round((n * traffic.stepMs) / 60000)
  for (let m = minutes; m >= 0; m--) {
    const i = n - 1 - (m * 60000) / traffic.stepMs
    children.push(svg('text', { x: x(i), y: h - 4, 'text-anchor': m === 0 ? 'end' : 'middle' }, m === 0 ? 'now' : `−${m} min`))
  }
  const area = `${x(0)},${y(0)} ` + traffic.requests.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ') + ` ${x(n - 1)},${y(0)}`
  children.push(svg('polygon', { class: 'requests-area', points: area }))
  for (const series of ['requests', 'refused', 'errors']) {
    const points = traffic[series].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
    children.push(svg('polyline', { class: series, points }))
  }
  plot.replaceChildren(...children)
  const sum = (a) => a.reduce((s, v) => s + v, 0)
  $('total-requests').textContent = fmt(sum(traffic.requests))
  $('total-refused').textContent = fmt(sum(traffic.refused))
  $('total-errors').textContent = fmt(sum(traffic.errors))
}

function render (data) {
  renderStore(data.store)
  renderTraffic(data.traffic)
  rows('rate-limit-rows', data.rateLimit.policies, (p) => [
    p.policy,
    `${p.limit} / ${p.windowMs / 1000} s`,
    fmt(p.allowed),
    fmt(p.refused),
    p.refused === 0 ? '—' : `${fmt(p.fromDenyCache)} (${pct(p.fromDenyCache / p.refused)})`,
    fmt(p.failOpen),
    fmt(p.local)
  ], 'no limited request yet')
  show('deny-cache-entries', data.rateLimit.denyCacheEntries)
  show('fail-closed', data.rateLimit.failClosed)
  rows('namespace-rows', data.namespaces, (s) => [
    s.namespace, pct(s.hitRate), fmt(s.hits), fmt(s.misses), fmt(s.errors), fmt(s.degraded),
    s.latencyMs === null ? { text: 'n/a', className: 'na' } : `${s.latencyMs.toFixed(2)} ms`
  ], 'no lookup yet')
  show('stale-serves', data.cacheAside.staleServes)
  show('loader-calls', data.cacheAside.loaderCalls)
  show('lock-waits', data.cacheAside.lockWaits)
  show('sessions-created', data.sessions.created)
  show('sessions-revoked', data.sessions.revoked)
  show('sessions-logged-out', data.sessions.loggedOutEverywhere)
  show('sessions-hits', data.sessions.hits)
  show('sessions-misses', data.sessions.misses)
  show('authz-hits', data.authz.hits)
  show('authz-misses', data.authz.misses)
  show('authz-degraded', data.authz.decidedWithoutCache)
  show('authz-invalidations', data.authz.invalidations)
  show('oauth-issued', data.oauth.issued)
  show('oauth-consumed', data.oauth.consumed)
  show('oauth-refused', data.oauth.refused)
  rows('node-rows', data.nodes, (node) => [node.node, node.connection, { text: node.circuit, className: `circuit-${node.circuit}` }],
    data.store.kind === 'memory' ? 'no Redis: the in-memory store has no circuit' : 'no node')
  $('updated-at').textContent = `Updated ${new Date(data.at).toLocaleTimeString()}.`
}

async function poll () {
  try {
    const answer = await call('GET', '/dashboard/data')
    if (answer.status === 200) render(answer.body)
  } catch {
    const banner = $('store-banner')
    banner.dataset.state = 'down'
    banner.textContent = 'The demo server does not answer.'
  } finally {
    setTimeout(poll, POLL_MS)
  }
}

function renderScenarios () {
  $('scenario-list').replaceChildren(...SCENARIOS.map((scenario) => {
    const box = document.createElement('div')
    box.className = 'scenario'
    box.id = `scenario-${scenario.id}`
    const plugin = document.createElement('span')
    plugin.className = 'plugin'
    plugin.textContent = scenario.plugin
    const button = document.createElement('button')
    button.type = 'button'
    button.textContent = scenario.title
    const explains = document.createElement('p')
    explains.className = 'explains'
    explains.textContent = scenario.explains
    const output = document.createElement('output')
    button.addEventListener('click', async () => {
      button.disabled = true
      output.dataset.state = 'running'
      output.textContent = 'running…'
      try {
        output.textContent = await scenario.run()
        output.dataset.state = 'done'
      } catch (err) {
        output.textContent = `failed: ${err.message}`
        output.dataset.state = 'failed'
      } finally {
        button.disabled = false
      }
    })
    box.append(plugin, button, explains, output)
    return box
  }))
}

renderScenarios()
poll()
