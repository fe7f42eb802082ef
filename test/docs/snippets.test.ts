import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'
import { freePort, startRedis } from '../../harness/redis-server.js'

// Every TypeScript block of README.md and docs/*.md, as a user would copy it.
// ```ts is a complete program: it is type-checked and run (on the memory store,
// and on a private Redis when it reads REDIS_URL). ```ts fragment is code from
// the middle of an app: it is type-checked in a wrapper that declares what
// docs/guide.md says a fragment may assume. 'fastify-cachekit' and its
// subpaths resolve to this repository's sources, through tsconfig paths.

// type-checking the pages and running some 16 programs through tsx takes about a minute on a busy 2-core machine
t.setTimeout(300_000)

const repo = fileURLToPath(new URL('../..', import.meta.url))
const docs = ['README.md', ...readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]

// What a fragment may assume (docs/guide.md, "Code in these pages"): `app`, a
// Fastify instance with every cachekit plugin registered, and the `request`
// and `reply` of the route handler the code sits in. Kept on one line so the
// fragment's line numbers are the wrapper's plus one.
const FRAGMENT_PRELUDE = "import type * as __fastify from 'fastify'; import 'fastify-cachekit'; " +
  'declare const app: __fastify.FastifyInstance; declare const request: __fastify.FastifyRequest; declare const reply: __fastify.FastifyReply\n'

interface Snippet {
  /** Where it is: `docs/cache.md:12` (the line of its opening fence). */
  where: string
  kind: 'program' | 'fragment'
  code: string
  file: string
}

/** The fenced blocks of a Markdown file whose language is TypeScript (or that look like it under another name). */
function blocksOf (doc: string): Array<{ line: number, info: string, code: string }> {
  const lines = readFileSync(join(repo, doc), 'utf8').split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S.*)?$/.exec(lines[i])
    if (open === null) continue
    const start = i
    const body = []
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i])
    blocks.push({ line: start + 1, info: (open[1] ?? '').trim(), code: body.join('\n') + '\n' })
  }
  return blocks
}

const scratch = mkdtempSync(join(tmpdir(), 'cachekit-docs-'))
t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

// the scratch folder resolves packages as the repo does, and fastify-cachekit to its sources
symlinkSync(join(repo, 'node_modules'), join(scratch, 'node_modules'), 'dir')
writeFileSync(join(scratch, 'package.json'), JSON.stringify({ type: 'module', private: true }))
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string, exports: Record<string, string | { default: string }> }
const paths: Record<string, string[]> = {}
for (const [subpath, target] of Object.entries(manifest.exports)) {
  if (typeof target === 'string') continue // ./package.json
  const source = target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')
  paths[subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`] = [join(repo, source)]
}
writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
    paths
  },
  include: ['*.ts']
}, null, 2))

const snippets: Snippet[] = []
const misnamed: string[] = []
for (const doc of docs) {
  for (const block of blocksOf(doc)) {
    const where = `${doc}:${block.line}`
    const [lang, ...marks] = block.info.split(/\s+/)
    if (['typescript', 'tsx', 'js', 'javascript', 'mjs', 'mts'].includes(lang)) misnamed.push(`${where}: \`\`\`${block.info}`)
    if (lang !== 'ts') continue
    if (marks.length > 1 || (marks.length === 1 && marks[0] !== 'fragment')) misnamed.push(`${where}: unknown marker \`\`\`${block.info}`)
    const kind = marks[0] === 'fragment' ? 'fragment' : 'program'
    const file = join(scratch, `${doc.replace(/[/.]/g, '-')}-${block.line}.ts`)
    writeFileSync(file, kind === 'fragment' ? FRAGMENT_PRELUDE + block.code : block.code)
    snippets.push({ where, kind, code: block.code, file })
  }
}

t.test('every TypeScript block is marked ```ts (a program) or ```ts fragment', async (t) => {
  t.same(misnamed, [])
  t.ok(snippets.some((s) => s.kind === 'program') && snippets.some((s) => s.kind === 'fragment'), 'both kinds were found')
})

t.test('snippets import the package by its name, never a relative path', async (t) => {
  for (const s of snippets) t.notMatch(s.code, /from '\.{1,2}\//, s.where)
})

t.test('every snippet type-checks (strict)', async (t) => {
  const config = ts.getParsedCommandLineOfConfigFile(join(scratch, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')) }
  })
  if (config === undefined) throw new Error('no tsconfig')
  const program = ts.createProgram(snippets.map((s) => s.file), config.options)
  for (const s of snippets) {
    const offset = s.kind === 'fragment' ? 1 : 0
    const errors = ts.getPreEmitDiagnostics(program, program.getSourceFile(s.file)).map((d) => {
      const at = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0
      const [doc, fence] = s.where.split(':')
      const place = d.file?.fileName === s.file ? `${doc}:${Number(fence) + at + 1 - offset}` : relative(repo, d.file?.fileName ?? '?')
      return `${place}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
    })
    t.same(errors, [], `${s.where} (${s.kind})`)
  }
})

/** Runs one program as a user would (tsx), with `env`. A program that listens must be up on PORT; any other must end with 0. */
async function run (s: Snippet, env: Record<string, string | undefined>): Promise<{ ok: boolean, detail: string }> {
  const port = await freePort()
  // A reader's shell, not tap's. tap wraps spawn() to record coverage in child processes whatever env they get,
  // and the coverage of tsx's compiled code, merged with ts-node's, marks covered lines uncovered: so coverage is
  // turned off in the child by the one variable tap's wrapper leaves alone when it is set. These runs show that the
  // docs work; they are no coverage of the library.
  const childEnv: Record<string, string | undefined> = { PORT: String(port), _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  for (const [k, v] of Object.entries({ ...process.env, ...env })) {
    if (v !== undefined && !/^(TAP|_TAPJS_|TS_NODE_|NODE_OPTIONS$|NODE_V8_COVERAGE$)/.test(k)) childEnv[k] = v
  }
  const child = spawn(process.execPath, [join(repo, 'node_modules/tsx/dist/cli.mjs'), s.file], { cwd: scratch, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000)
  try {
    if (/\.listen\(/.test(s.code)) {
      // a server: it is up once its port answers; then it is stopped
      const up = await waitForPort(port, child)
      child.kill('SIGTERM')
      await exited
      return { ok: up, detail: up ? `listening on PORT ${port}` : `exited before listening:\n${output}` }
    }
    const code = await exited
    return { ok: code === 0, detail: code === 0 ? 'ended with 0' : `exit ${String(code)}:\n${output}` }
  } finally {
    clearTimeout(deadline)
  }
}

/** Whether something accepts connections on the port, polled until the child exits. */
async function waitForPort (port: number, child: ChildProcess): Promise<boolean> {
  while (child.exitCode === null && child.signalCode === null) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (open) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

// The variables the pages tell a reader to set: none on a fresh machine (the
// memory store, no encryption); on Redis, with a session key too. The OAuth
// app credentials are placeholders (no provider is called).
const FRESH = { REDIS_URL: undefined, SESSION_KEY: undefined, GITHUB_ID: 'docs-client', GITHUB_SECRET: 'docs-secret' }

t.test('every program runs as written', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const runs: Array<{ name: string, go: () => ReturnType<typeof run> }> = []
  for (const s of snippets.filter((s) => s.kind === 'program')) {
    runs.push({ name: `${s.where} on the memory store`, go: async () => await run(s, FRESH) })
    if (s.code.includes('process.env.REDIS_URL')) {
      const env = { ...FRESH, REDIS_URL: redis.url, SESSION_KEY: randomBytes(32).toString('base64') }
      runs.push({ name: `${s.where} on Redis`, go: async () => await run(s, env) })
    }
  }
  // two at a time (each run is mostly tsx compiling), reported in page order
  const results = new Array<{ ok: boolean, detail: string }>(runs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < runs.length; i = next++) results[i] = await runs[i].go()
  }
  await Promise.all([worker(), worker()])
  runs.forEach((r, i) => { t.ok(results[i].ok, `${r.name}: ${results[i].detail}`) })
})

// a guard on the extraction itself: a fence that is never closed would swallow the rest of a page
t.test('the extraction sees every fence closed', async (t) => {
  for (const doc of docs) {
    const fences = readFileSync(resolve(repo, doc), 'utf8').split('\n').filter((l) => l.startsWith('```')).length
    t.equal(fences % 2, 0, `${doc} has an even number of fences`)
  }
})
