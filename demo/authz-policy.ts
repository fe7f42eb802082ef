import { fileURLToPath } from 'node:url'

/**
 * The RBAC model and policy the demo ships in `authz/` (docs/authz.md): role
 * `admin` may do anything, role `user` may read `accounts`, no role nothing.
 * Paths only: casbin reads them (`newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY)`).
 */
export const DEMO_AUTHZ_MODEL = fileURLToPath(new URL('./authz/model.conf', import.meta.url))
export const DEMO_AUTHZ_POLICY = fileURLToPath(new URL('./authz/policy.csv', import.meta.url))
