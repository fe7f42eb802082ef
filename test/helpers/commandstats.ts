import type { Redis } from 'ioredis'

/**
 * Calls per command that a Redis has served (since start or CONFIG RESETSTAT),
 * from INFO commandstats, without the measuring commands themselves (INFO,
 * CONFIG RESETSTAT). Commands a script runs are counted under their own names.
 */
export async function commandCalls (client: Redis): Promise<Record<string, number>> {
  const info = await client.info('commandstats')
  const calls: Record<string, number> = {}
  for (const [, name, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[name as string] = Number(n)
  delete calls.info
  delete calls['config|resetstat']
  return calls
}
