import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from 'ioredis'
import { redisClientOptions } from '../lib/store/redis-client.js'
import { freePort, hasRedisServer } from './redis-server.js'
import { until } from './wait.js'

/**
 * A small private Redis Cluster (three masters, no replicas) made with
 * `redis-cli --cluster create`, for suites that must hold on a Cluster too.
 * Returns null where no redis-server binary exists (the suite then skips).
 */

export interface TestCluster {
  readonly nodes: Array<{ host: string, port: number }>
  client (): Promise<Cluster>
  stop (): Promise<void>
}

/** A free port whose cluster bus port (the port + 10000) exists too. */
async function busablePort (): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port <= 55535) return port
  }
}

export async function startCluster (): Promise<TestCluster | null> {
  if (!hasRedisServer()) return null
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-cluster-'))
  const ports = [await busablePort(), await busablePort(), await busablePort()]
  const procs: ChildProcess[] = ports.map((port) => spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir
  ], { stdio: 'ignore' }))
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map(async (p) => {
      if (p.exitCode !== null) return
      const exited = new Promise((resolve) => p.once('exit', resolve))
      p.kill('SIGKILL')
      await exited
    }))
    rmSync(dir, { recursive: true, force: true })
  }
  const redisCli = (...args: string[]): string => spawnSync('redis-cli', args).stdout?.toString() ?? ''
  try {
    // wait for every node to answer, then join them into one cluster
    for (const port of ports) {
      await until(`cluster node ${port} answers`, () => redisCli('-p', String(port), 'ping').trim() === 'PONG', { everyMs: 50 })
    }
    // bounded: redis-cli waits for the nodes to meet, and would wait forever
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr?.toString() ?? String(created.error)}`)
    // every node, not just the first: a client may ask any of them for the slots
    await until('every node reports the cluster ok', () => ports.every((port) => redisCli('-p', String(port), 'cluster', 'info').includes('cluster_state:ok')), { withinMs: 10_000, everyMs: 50 })
  } catch (err) {
    await stop()
    throw err
  }
  const nodes = ports.map((port) => ({ host: '127.0.0.1', port }))
  const clients: Cluster[] = []
  return {
    nodes,
    client: async () => {
      const c = new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, redisOptions: redisClientOptions() })
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
    stop: async () => {
      for (const c of clients) c.disconnect()
      await stop()
    }
  }
}
