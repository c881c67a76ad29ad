// Which settings a reloaded config file changed, by key path: what a reload (SIGHUP) cannot
// apply is named in a warning, never silently ignored. Values are compared, never logged.

/**
 * The keys whose values differ between `before` and `after` (compared as JSON), as paths
 * under `prefix` (`gateway.listen`), leaving out the `applied` ones.
 */
export function changedKeys(before: object | undefined, after: object | undefined, prefix: string, applied: ReadonlySet<string> = new Set()): string[] {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = (after ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !applied.has(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => (prefix === '' ? k : `${prefix}.${k}`));
}

/** The top-level sections each role reloads (and names the changed keys of) itself. */
export const ROLE_SECTIONS: ReadonlySet<string> = new Set(['auth', 'gateway']);

/**
 * What a reload applies, by section (the gateway: src/gateway/start.ts; the auth server:
 * src/auth/start.ts); every other key waits for a restart. `tls` reloads its files, but
 * turning TLS on or off needs a restart.
 */
export const RELOADED_KEYS = {
  gateway: new Set<string>(['services', 'consumers', 'plugins', 'admin_token', 'tls', 'hsts', 'trusted_proxies', 'strip_headers', 'forward_auth']),
  auth: new Set<string>(['clients', 'users', 'tls']),
} as const;

/**
 * The keys of one section (`auth`, `gateway`) that a reload cannot apply: changed ones
 * outside RELOADED_KEYS, and `tls` turned on or off. Paths under `prefix` (the section's name
 * by default; '' for bare keys).
 */
export function waitingKeys(section: keyof typeof RELOADED_KEYS, before: { tls?: unknown } | undefined, after: { tls?: unknown } | undefined, prefix: string = section): string[] {
  const keys = changedKeys(before, after, prefix, RELOADED_KEYS[section]);
  if ((before?.tls === undefined) !== (after?.tls === undefined)) keys.push(prefix === '' ? 'tls' : `${prefix}.tls`);
  return keys;
}
