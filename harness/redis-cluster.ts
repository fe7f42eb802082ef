import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from 'ioredis'
import { clusterClientOptions, type RedisClientOptions } from '../lib/store/redis-client.js'
import { freePort, hasRedisServer } from './redis-server.js'
import { until } from './wait.js'

/**
 * A small private Redis Cluster made with `redis-cli --cluster create`: three
 * masters with one replica each by default, `cluster-require-full-coverage no`
 * (a dead master costs only its own slots), and a short node timeout so a
 * killed master is replaced within a couple of seconds. Returns null where no
 * redis-server binary exists (the suite then skips).
 */

export interface ClusterNode { host: string, port: number }

export interface TestCluster {
  readonly nodes: ClusterNode[]
  /** A Cluster client tuned as the plugin tunes one, connected (closed by stop). */
  client (options?: RedisClientOptions): Promise<Cluster>
  /** The ports of the nodes that are masters now and own slots. */
  masters (): number[]
  /** SIGKILL one node, as in a crash. */
  kill (port: number): Promise<void>
  /** Resolves once a replica has taken over every slot range the node at `port` owned, and every master reports the cluster ok. */
  promoted (port: number, withinMs?: number): Promise<void>
  /** FLUSHALL on every master. */
  flush (): Promise<void>
  /** `redis-cli -p port …`, for a test's own checks. */
  cli (port: number, ...args: string[]): string
  stop (): Promise<void>
}

export interface ClusterHarnessOptions {
  masters?: number
  /** Replicas per master (default 1). */
  replicas?: number
  /** cluster-node-timeout: how long a silent master goes before its replica takes over (default 1000 ms). */
  nodeTimeoutMs?: number
}

/** A free port whose cluster bus port (the port + 10000) exists too. */
async function busablePort (): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port <= 55535) return port
  }
}

export async function startCluster (options: ClusterHarnessOptions = {}): Promise<TestCluster | null> {
  if (!hasRedisServer()) return null
  const { masters = 3, replicas = 1, nodeTimeoutMs = 1000 } = options
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-cluster-'))
  const ports: number[] = []
  while (ports.length < masters * (1 + replicas)) {
    const port = await busablePort()
    if (!ports.includes(port)) ports.push(port)
  }
  const procs = new Map<number, ChildProcess>(ports.map((port) => [port, spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
    '--cluster-require-full-coverage', 'no', '--cluster-node-timeout', String(nodeTimeoutMs),
    // a replica takes over however long it lost its master: a test kills masters on purpose
    '--cluster-replica-validity-factor', '0'
  ], { stdio: 'ignore' })]))
  const killNode = async (port: number): Promise<void> => {
    const p = procs.get(port)
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise((resolve) => p.once('exit', resolve))
    p.kill('SIGKILL')
    await exited
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all(ports.map(killNode))
    rmSync(dir, { recursive: true, force: true })
  }
  const cli = (port: number, ...args: string[]): string => spawnSync('redis-cli', ['-p', String(port), ...args], { timeout: 5000 }).stdout?.toString() ?? ''
  // the async twin, for polling while a test measures latencies (spawnSync would stall its event loop)
  const cliAsync = async (port: number, ...args: string[]): Promise<string> => await new Promise((resolve) => {
    execFile('redis-cli', ['-p', String(port), ...args], { timeout: 5000 }, (_err, stdout) => { resolve(String(stdout)) })
  })
  const alive = (port: number): boolean => { const p = procs.get(port); return p !== undefined && p.exitCode === null && p.signalCode === null }
  /** Masters owning slots, as a live node sees them: lines of CLUSTER NODES. */
  const nodesView = (): string[] => {
    const asker = ports.find(alive)
    return asker === undefined ? [] : cli(asker, 'cluster', 'nodes').trim().split('\n')
  }
  const mastersIn = (lines: string[]): number[] => lines
    .map((line) => line.split(' '))
    .filter((f) => (f[2] ?? '').includes('master') && !(f[2] ?? '').includes('fail') && f.length > 8)
    .map((f) => Number((f[1] ?? '').split(':')[1]?.split('@')[0]))
  const mastersNow = (): number[] => mastersIn(nodesView())
  try {
    for (const port of ports) {
      await until(`cluster node ${port} answers`, () => cli(port, 'ping').trim() === 'PONG', { everyMs: 50 })
    }
    // bounded: redis-cli waits for the nodes to meet, and would wait forever
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr?.toString() ?? String(created.error)}`)
    // every node, not just the first: a client may ask any of them for the slots
    await until('every node reports the cluster ok', () => ports.every((port) => cli(port, 'cluster', 'info').includes('cluster_state:ok')), { withinMs: 15_000, everyMs: 100 })
    // replicas in sync, so that killing a master is a failover, not a loss
    if (replicas > 0) {
      await until('every replica is in sync', () => ports.every((port) => {
        const info = cli(port, 'info', 'replication')
        return info.includes('role:master') || info.includes('master_link_status:up')
      }), { withinMs: 15_000, everyMs: 100 })
    }
  } catch (err) {
    await stopAll()
    throw err
  }
  const nodes = ports.map((port) => ({ host: '127.0.0.1', port }))
  const clients: Cluster[] = []
  return {
    nodes,
    client: async (clientOptions = {}) => {
      const c = new Cluster(nodes, clusterClientOptions(clientOptions))
      c.on('error', () => {})
      clients.push(c)
      let timer: NodeJS.Timeout | undefined
      const gaveUp = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error('a Cluster client did not connect within 10 s')) }, 10_000)
      })
      try {
        await Promise.race([c.connect(), gaveUp])
      } finally {
        clearTimeout(timer)
      }
      return c
    },
    masters: mastersNow,
    flush: async () => { await Promise.all(mastersIn(nodesView()).map(async (port) => await cliAsync(port, 'flushall'))) },
    kill: killNode,
    promoted: async (port, withinMs = 15_000) => {
      await until(`a replica took over from ${port}`, async () => {
        const asker = ports.find(alive)
        if (asker === undefined) return false
        const live = mastersIn((await cliAsync(asker, 'cluster', 'nodes')).trim().split('\n'))
        if (live.length !== masters || live.includes(port)) return false
        const infos = await Promise.all(live.map(async (p) => await cliAsync(p, 'cluster', 'info')))
        return infos.every((info) => info.includes('cluster_state:ok'))
      }, { withinMs, everyMs: 20 })
    },
    cli,
    stop: async () => {
      for (const c of clients) c.disconnect()
      await stopAll()
    }
  }
}
