/**
 * Drops false/undefined keys: `flags.N?true` fields are not part of the constructor id, so another
 * layer's constructor with the same id can have more of them (e.g. chatAdminRights in 198 vs 222);
 * the union registry decodes those as false.
 */
export function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(prune)
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (x !== false && x !== undefined) out[k] = prune(x)
    return out
  }
  return v
}
