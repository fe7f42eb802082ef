import { isIPv6 } from 'node:net'
import { userIdOf } from '../request-user.js'

/**
 * Who a request counts against. The default is the client IP as the framework
 * resolved it (so a proxy header is honoured only when the server trusts its
 * proxy), with an IPv6 address folded to its /64: one subscriber usually holds
 * a whole /64 and could otherwise rotate through 2^64 buckets.
 */

/** The slice of a request identity needs (a Fastify request fits). */
export interface IdentifiedRequest {
  readonly ip: string
  readonly user?: unknown
}

function parseHextets (address: string): number[] {
  let text = address
  // a trailing dotted quad (::ffff:192.0.2.1) is the last two hextets
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number]
    text = text.slice(0, quad.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16)
  }
  const [head = '', tail] = text.split('::')
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map((h) => parseInt(h, 16))
  const front = parse(head)
  if (tail === undefined) return front
  const back = parse(tail)
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
}

/** An IPv4 address as is; IPv6 as its /64 (`2001:db8:1:2::/64`), an IPv4-mapped one as its IPv4. */
export function foldIp (ip: string): string {
  if (!isIPv6(ip)) return ip
  const zone = ip.indexOf('%')
  const h = parseHextets((zone === -1 ? ip : ip.slice(0, zone)).toLowerCase())
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) {
    return [(h[6] as number) >> 8, (h[6] as number) & 255, (h[7] as number) >> 8, (h[7] as number) & 255].join('.')
  }
  return h.slice(0, 4).map((x) => x.toString(16)).join(':') + '::/64'
}

/** The default identity: the client IP, folded. */
export function ipIdentity (request: IdentifiedRequest): string {
  return foldIp(request.ip)
}

/**
 * The verified user (`request.user` as set by an auth plugin, read by
 * `userIdOf`: its `id`, else its `sub`, else the user itself) as
 * `user:<id>`; anonymous requests fall back to the client IP.
 */
export function userIdentity (request: IdentifiedRequest): string {
  const id = userIdOf(request.user)
  return id === undefined ? foldIp(request.ip) : `user:${id}`
}
