import type { RouteOptions } from 'fastify'
import type { ResolvedOptions, RoutePolicy } from './options.js'

/**
 * Gives each new route its policy (an onRoute hook): its own
 * `config.rateLimit`, else the `routes` map's (a HEAD route takes its GET's),
 * else the default one when `global` is on; `false` in the map exempts it.
 */
export function assignPolicies (opts: Pick<ResolvedOptions, 'routes' | 'global'>): (route: RouteOptions) => void {
  const routes = opts.routes ?? {}
  return (route) => {
    const config = route.config as { rateLimit?: unknown } | undefined
    if (config?.rateLimit !== undefined) return
    let policy: RoutePolicy | false | undefined
    for (const method of [route.method].flat()) {
      policy ??= routes[`${method} ${route.url}`] ?? (method === 'HEAD' ? routes[`GET ${route.url}`] : undefined)
    }
    const rateLimit = policy ?? (opts.global ? {} : undefined)
    if (rateLimit !== undefined) route.config = { ...config, rateLimit } as typeof route.config
  }
}
