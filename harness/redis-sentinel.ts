import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, hasRedisServer, startRedis, type TestRedis } from './redis-server.js'
import { until } from './wait.js'

/**
 * A private Sentinel setup: a primary, one replica and one sentinel (quorum 1)
 * that declares the primary down after `downAfterMs` of silence and promotes
 * the replica. Returns null where no redis-server binary exists.
 */

export interface TestSentinel {
  readonly name: string
  readonly sentinels: Array<{ host: string, port: number }>
  /** The port of the primary the sentinel names now. */
  primaryPort (): Promise<number>
  /** SIGKILL the current primary. */
  killPrimary (): Promise<number>
  /** Resolves once the sentinel names a primary other than `oldPort` and it answers as a master. */
  failedOver (oldPort: number, withinMs?: number): Promise<number>
  stop (): Promise<void>
}

const cli = async (port: number, ...args: string[]): Promise<string> => await new Promise((resolve) => {
  execFile('redis-cli', ['-p', String(port), ...args], { timeout: 5000 }, (_err, stdout) => { resolve(String(stdout)) })
})

export async function startSentinel (options: { name?: string, downAfterMs?: number } = {}): Promise<TestSentinel | null> {
  if (!hasRedisServer()) return null
  const { name = 'cachekit', downAfterMs = 1000 } = options
  const servers: TestRedis[] = []
  const dir = mkdtempSync(join(tmpdir(), 'cachekit-sentinel-'))
  let sentinel: ChildProcess | undefined
  const stop = async (): Promise<void> => {
    const s = sentinel
    if (s !== undefined && s.exitCode === null && s.signalCode === null) {
      const exited = new Promise((resolve) => s.once('exit', resolve))
      s.kill('SIGKILL')
      await exited
    }
    await Promise.all(servers.map(async (r) => { await r.stop() }))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const primary = await startRedis(['--dir', dir])
    servers.push(primary)
    servers.push(await startRedis(['--dir', dir, '--replicaof', '127.0.0.1', String(primary.port)]))
    await until('the replica is in sync', async () => (await cli(servers[1]!.port, 'info', 'replication')).includes('master_link_status:up'), { withinMs: 10_000, everyMs: 50 })
    const port = await freePort()
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`
    ].join('\n') + '\n')
    sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
    // the sentinel must know the replica before it can promote it
    await until('the sentinel sees the replica', async () => (await cli(port, 'sentinel', 'replicas', name)).includes(String(servers[1]!.port)), { withinMs: 15_000, everyMs: 100 })
    const primaryPort = async (): Promise<number> => Number((await cli(port, 'sentinel', 'get-master-addr-by-name', name)).trim().split('\n')[1])
    return {
      name,
      sentinels: [{ host: '127.0.0.1', port }],
      primaryPort,
      killPrimary: async () => {
        const now = await primaryPort()
        await servers.find((s) => s.port === now)?.kill()
        return now
      },
      failedOver: async (oldPort, withinMs = 20_000) => {
        let next = oldPort
        await until(`the sentinel promoted a replica over ${oldPort}`, async () => {
          next = await primaryPort()
          return next !== oldPort && next > 0 && (await cli(next, 'info', 'replication')).includes('role:master')
        }, { withinMs, everyMs: 20 })
        return next
      },
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}
