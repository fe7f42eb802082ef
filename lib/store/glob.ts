/**
 * Redis glob-style matching (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`), so the
 * memory store's `deletePattern` selects exactly the keys SCAN MATCH would.
 */
export function globToRegExp (glob: string): RegExp {
  let out = '^'
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') out += '[\\s\\S]*'
    else if (c === '?') out += '[\\s\\S]'
    else if (c === '\\' && i + 1 < glob.length) out += escapeChar(glob[++i] as string)
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end === -1) { out += '\\['; continue }
      let body = glob.slice(i + 1, end)
      const negate = body.startsWith('^')
      if (negate) body = body.slice(1)
      out += '[' + (negate ? '^' : '') + body.replace(/[\]\\]/g, '\\$&') + ']'
      i = end
    } else out += escapeChar(c)
  }
  return new RegExp(out + '$')
}

function escapeChar (c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}
