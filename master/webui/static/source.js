// Where the UI's data comes from. A source delivers snapshots
//   { state, metrics, roles, at, leader: 'self' | 'other' | 'proxied' | 'unknown', error }
// to its listeners. `PollingSource` polls the master's public endpoints; a source reading
// the v1 operator API's SUBSCRIBE stream can replace it later by offering the same
// interface (subscribe / start / stop / refresh / latest), the pages do not change.

const MIN_INTERVAL_MS = 2000;
const MAX_INTERVAL_MS = 30000;

/** Fetches JSON without following redirects: a standby master redirects to the leader. */
async function getJson(path) {
  const response = await fetch(path, {
    redirect: 'manual',
    cache: 'no-store',
    headers: { Accept: 'application/json' },
  });
  if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
    return { redirected: true };
  }
  if (!response.ok) {
    const text = (await response.text()).trim();
    const error = new Error(`${path}: ${response.status} ${text}`);
    error.status = response.status;
    throw error;
  }
  return { body: await response.json() };
}

/** Polls /master/state, /metrics/snapshot and /roles every 2 s (backing off on errors). */
export class PollingSource {
  constructor({ interval = MIN_INTERVAL_MS } = {}) {
    this.interval = interval;
    // '' reads this master's endpoints; '/webui/leader' reads the leader's through this
    // standby (when the browser cannot reach the leader itself).
    this.base = '';
    this.delay = interval;
    this.listeners = new Set();
    this.snapshot = null;
    this.timer = null;
    this.running = false;
    this.inFlight = null;
  }

  /** Calls `fn(snapshot)` on every new snapshot (and now, if there is one); returns an unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    if (this.snapshot) fn(this.snapshot);
    return () => this.listeners.delete(fn);
  }

  /** The latest snapshot, or null before the first. */
  latest() {
    return this.snapshot;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.refresh();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** Polls now (at most one poll at a time); resolves with the new snapshot. */
  refresh() {
    if (this.inFlight) return this.inFlight;
    clearTimeout(this.timer);
    this.inFlight = this.poll().finally(() => {
      this.inFlight = null;
      if (this.running) this.timer = setTimeout(() => this.refresh(), this.delay);
    });
    return this.inFlight;
  }

  /** From now on, read the leader's endpoints through this (standby) master. */
  useLeaderProxy() {
    this.base = '/webui/leader';
    this.delay = this.interval;
    return this.refresh();
  }

  async poll() {
    let snapshot;
    const base = this.base;
    try {
      const [state, metrics, roles] = await Promise.all([
        getJson(`${base}/master/state`),
        getJson(`${base}/metrics/snapshot`).catch(() => ({ body: {} })),
        getJson(`${base}/roles`).catch(() => ({ body: { roles: [] } })),
      ]);
      if (state.redirected && base) {
        throw new Error('the leader redirects: leadership is changing');
      }
      if (state.redirected) {
        snapshot = { leader: 'other', at: Date.now(), state: null, metrics: metrics.body ?? {}, roles: null };
      } else {
        snapshot = {
          leader: base ? 'proxied' : 'self',
          at: Date.now(),
          state: state.body,
          metrics: metrics.body ?? {},
          roles: roles.body ?? { roles: [] },
        };
      }
      this.delay = this.interval;
    } catch (e) {
      // Through a standby that no longer is one (it leads, or lost its leader): read its own.
      if (base && e.status === 503) this.base = '';
      // Keep showing the last good data, say what is wrong, and back off.
      this.delay = Math.min(MAX_INTERVAL_MS, this.delay * 2);
      snapshot = {
        ...(this.snapshot ?? { state: null, metrics: {}, roles: null, leader: 'unknown' }),
        error: e.status === 503 ? e.message : `cannot reach the master: ${e.message}`,
        at: Date.now(),
      };
    }
    this.snapshot = snapshot;
    for (const fn of this.listeners) {
      try {
        fn(snapshot);
      } catch (e) {
        console.error('a listener failed', e);
      }
    }
    return snapshot;
  }
}
