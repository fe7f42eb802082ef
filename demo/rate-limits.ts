import type { RoutePolicySchema } from '../plugins/rate-limit.js'
import type { Static } from '@sinclair/typebox'

/**
 * The demo's rate-limit policies, by method and route template, per client IP
 * (docs/rate-limit.md lists them). Every demo route is named here: the demo
 * registers the plugin with `global: false`, so a route missing from this map
 * is not limited; `false` exempts a route explicitly. Kept apart from
 * the routes themselves so that each route file stays one concern.
 */
const perMinute = (max: number): Static<typeof RoutePolicySchema> => ({ max, timeWindow: 60_000 })

export const DEMO_RATE_LIMITS: Record<string, Static<typeof RoutePolicySchema> | false> = {
  'GET /health': false,
  'GET /health/live': false,
  'GET /health/ready': false,
  'GET /dashboard/data': false,
  'GET /metrics': false,
  'POST /login': perMinute(5),
  'POST /logout': perMinute(30),
  'GET /me/sessions': perMinute(60),
  'DELETE /me/sessions/:id': perMinute(30),
  'DELETE /me/sessions': perMinute(10),
  'POST /authz/check': perMinute(300),
  'PUT /users/:userId/roles/:role': perMinute(30),
  'DELETE /users/:userId/roles/:role': perMinute(30),
  'GET /accounts/:id': perMinute(120),
  'POST /oauth/:provider/start': perMinute(20),
  'GET /oauth/:provider/callback': perMinute(20),
  'GET /cache/stats': perMinute(60),
  'GET /users/:userId/accounts': perMinute(600),
  'DELETE /users/:userId/accounts/cache': perMinute(30)
}
