// Request paths are normalized before routing, so `/public/../admin` or `/%61dmin` cannot
// slip past a route and be resolved differently upstream: percent-encoded unreserved
// characters are decoded (RFC 3986 §6.2.2.2), other escapes upper-cased, dot segments
// removed (§5.2.4). The normalized path is also what goes upstream. Paths an upstream could
// resolve differently from us (a backslash, a `..;` segment, a `#`) are refused.

const NEEDS_WORK = /%|\/\.\.?(?:[/;]|$)/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** The normalized path, or undefined when it cannot be a valid origin-form path. */
export function normalizePath(raw: string): string | undefined {
  if (raw.charCodeAt(0) !== 47 /* / */) return undefined;
  // a backslash is not allowed in a URI (RFC 3986 §2); Windows servers and some frameworks
  // read it as "/", so `/public\..\admin` would be resolved past the route upstream
  if (raw.indexOf('\\') !== -1) return undefined;
  // nor is a fragment part of a request target (RFC 9112 §3.2): `/admin#/x` is path `/admin` upstream
  if (raw.indexOf('#') !== -1) return undefined;
  // the common case, nothing to do: no escape and no dot segment (native scans, no regex call)
  if (raw.indexOf('%') === -1 && (raw.indexOf('/.') === -1 || !NEEDS_WORK.test(raw))) return raw;
  let decoded = raw;
  if (raw.includes('%')) {
    decoded = raw.replace(/%([0-9A-Fa-f]{2})|%/g, (all, hex: string | undefined) => {
      if (hex === undefined) return '\u0000'; // a lone % is malformed
      const ch = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    });
    if (decoded.includes('\u0000')) return undefined;
  }
  return removeDotSegments(decoded);
}

/** `/a;x/b;y=1` → `/a/b`: the path a servlet container resolves (path parameters cut from each segment). */
export function withoutPathParameters(path: string): string {
  return path.replace(/;[^/]*/g, '');
}

function removeDotSegments(path: string): string | undefined {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    // `..;x` is a dot segment to Tomcat and Jetty (path parameters are cut before resolving):
    // routed here as a plain name, it would climb out of the route upstream. Refused.
    if (segment.startsWith('.;') || segment.startsWith('..;')) return undefined;
    if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(segment);
    }
  }
  return '/' + out.join('/');
}
