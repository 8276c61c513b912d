// Hash routing: every page has a URL ('#/agents/<id>', '#/frameworks/<id>', ...), so deep
// links load directly and the browser's back and forward buttons work. A route pattern
// is a path whose ':name' segments become parameters; '?a=b' after the path gives the query.

/** Splits a location hash into { path: ['agents', 'id'], query: URLSearchParams }. */
export function parseHash(hash) {
  const raw = String(hash ?? '').replace(/^#/, '');
  const q = raw.indexOf('?');
  const pathPart = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const path = pathPart.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { path, query };
}

/** The first route matching a parsed hash: { route, params } (params from ':name' segments), or null. */
export function match(routes, { path }) {
  for (const route of routes) {
    const parts = route.pattern.split('/').filter(Boolean);
    if (parts.length !== path.length) continue;
    const params = {};
    let ok = true;
    parts.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = path[i];
      else if (p !== path[i]) ok = false;
    });
    if (ok) return { route, params };
  }
  return null;
}
