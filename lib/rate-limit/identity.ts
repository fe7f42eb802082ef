import { isIP, isIPv6 } from 'node:net'
import { userIdOf } from '../request-user.js'

/**
 * Who a request counts against. The default is the client IP as the framework
 * resolved it (so a proxy header is honoured only when the server trusts its
 * proxy), with an IPv6 address folded to its subnet (/64 by default): one
 * subscriber usually holds a whole /64 and could otherwise rotate through 2^64
 * buckets. A resolved "IP" that is not one (a forged X-Forwarded-For) is
 * ignored, as if the header were absent: the connection's address counts.
 */

/** The slice of a request identity needs (a Fastify request fits). */
export interface IdentifiedRequest {
  readonly ip: string
  readonly user?: unknown
  readonly socket?: { readonly remoteAddress?: string | undefined } | undefined
}

export const DEFAULT_IPV6_SUBNET = 64

/** A subnet length from 0 to 128, else the default (/64), as @fastify/rate-limit reads `ipv6Subnet`. */
export function ipv6SubnetOf (value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 128 ? Math.trunc(value) : DEFAULT_IPV6_SUBNET
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

/** RFC 5952 text of eight hextets: lower case, no leading zeros, the longest run of two or more zeros as `::`. */
function ipv6Text (h: number[]): string {
  let start = -1
  let length = 0
  for (let i = 0; i < 8;) {
    if (h[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && h[j] === 0) j++
    if (j - i > length && j - i >= 2) { start = i; length = j - i }
    i = j
  }
  const text = h.map((x) => x.toString(16))
  if (start === -1) return text.join(':')
  return text.slice(0, start).join(':') + '::' + text.slice(start + length).join(':')
}

/**
 * An IPv4 address as is; IPv6 as the first address of its `subnet` (default
 * /64) in RFC 5952 form (`2001:db8:1:2::`), an IPv4-mapped one as its IPv4;
 * anything else lower-cased. The same text as @fastify/rate-limit's `normalizeIP`.
 */
export function foldIp (ip: string, subnet = DEFAULT_IPV6_SUBNET): string {
  if (!isIPv6(ip)) return ip.toLowerCase()
  const zone = ip.indexOf('%')
  const h = parseHextets((zone === -1 ? ip : ip.slice(0, zone)).toLowerCase())
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) {
    return [(h[6] as number) >> 8, (h[6] as number) & 255, (h[7] as number) >> 8, (h[7] as number) & 255].join('.')
  }
  const bits = ipv6SubnetOf(subnet)
  const masked = h.map((x, i) => {
    const keep = Math.min(16, Math.max(0, bits - 16 * i))
    return keep === 16 ? x : keep === 0 ? 0 : x & (0xffff << (16 - keep)) & 0xffff
  })
  return ipv6Text(masked)
}

/** The client IP: `request.ip` when it is an IP, else the connection's address (a forged forwarded value is ignored). */
export function clientIp (request: IdentifiedRequest): string {
  if (isIP(request.ip) !== 0) return request.ip
  const remote = request.socket?.remoteAddress
  return remote !== undefined && isIP(remote) !== 0 ? remote : 'unknown'
}

/** The default identity: the client IP, folded (IPv6 to its `subnet`). */
export function ipIdentity (request: IdentifiedRequest, subnet = DEFAULT_IPV6_SUBNET): string {
  return foldIp(clientIp(request), subnet)
}

/**
 * The verified user (`request.user` as set by an auth plugin, read by
 * `userIdOf`: its `id`, else its `sub`, else the user itself) as
 * `user:<id>`; anonymous requests fall back to the client IP.
 */
export function userIdentity (request: IdentifiedRequest, subnet = DEFAULT_IPV6_SUBNET): string {
  const id = userIdOf(request.user)
  return id === undefined ? ipIdentity(request, subnet) : `user:${id}`
}
