// Where the UI's data comes from. A source delivers snapshots
//   { state, metrics, roles, at, leader: 'self' | 'other' | 'proxied' | 'unknown', error,
//     source: 'stream' | 'polling' }
// to its listeners; both sources offer the same interface (subscribe / start / stop /
// refresh / latest / useLeaderProxy), so the pages do not know which one runs.
// `StreamSource` follows the v1 operator API's SUBSCRIBE stream and falls back to
// `PollingSource`, which polls the master's public endpoints, where there is no stream.

import { RecordIOParser } from './recordio.js';
import { LiveModel } from './live_model.js';

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
        snapshot = { leader: 'other', at: Date.now(), state: null, metrics: metrics.body ?? {}, roles: null, source: 'polling' };
      } else {
        snapshot = {
          leader: base ? 'proxied' : 'self',
          at: Date.now(),
          state: state.body,
          metrics: metrics.body ?? {},
          roles: roles.body ?? { roles: [] },
          source: 'polling',
        };
      }
      this.delay = this.interval;
    } catch (e) {
      // Through a standby that no longer is one (it leads, or lost its leader): read its own.
      if (base && e.status === 503) this.base = '';
      // Keep showing the last good data, say what is wrong, and back off.
      this.delay = Math.min(MAX_INTERVAL_MS, this.delay * 2);
      snapshot = {
        ...(this.snapshot ?? { state: null, metrics: {}, roles: null, leader: 'unknown', source: 'polling' }),
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

/** Shortest and longest wait before a broken stream is opened again. */
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30000;
/** How often the offered resources are read (the events carry no offers, as in Mesos). */
const OFFERS_INTERVAL_MS = 5000;
/** How long events are gathered before the pages render them (one render per batch). */
const EMIT_DELAY_MS = 100;
/** Silence (no event, no heartbeat) after which the stream counts as dead, before SUBSCRIBED. */
const FIRST_SILENCE_MS = 30000;

/**
 * Follows `POST /api/v1 {"type":"SUBSCRIBE"}`: a RecordIO stream of SUBSCRIBED, then
 * TASK_ADDED / TASK_UPDATED / AGENT_* / FRAMEWORK_* events and HEARTBEATs. On SUBSCRIBED it
 * reads /master/state once (the pages render its shape) and from then on applies the
 * events to that model (`LiveModel`); events received during the read are applied after
 * it. A broken or silent stream is opened again with backoff (and the state read again);
 * a master that redirects it (a standby), refuses it, or a browser that cannot read a
 * stream, gets a `PollingSource` instead.
 */
export class StreamSource {
  constructor({ offersInterval = OFFERS_INTERVAL_MS } = {}) {
    this.offersInterval = offersInterval;
    this.listeners = new Set();
    this.snapshot = null;
    this.running = false;
    this.polling = null; // the fallback, once the stream is unavailable
    this.abort = null; // the open stream's controller
    this.model = null;
    this.pending = null; // events received while the state is read
    this.resyncing = null; // { abort, done } of the state read under way
    this.roles = { roles: [] };
    this.delay = RECONNECT_MIN_MS;
    this.silenceMs = FIRST_SILENCE_MS;
    this.timers = {};
  }

  subscribe(fn) {
    this.listeners.add(fn);
    if (this.snapshot) fn(this.snapshot);
    return () => this.listeners.delete(fn);
  }

  latest() {
    return this.snapshot;
  }

  start() {
    if (this.running) return;
    this.running = true;
    if (typeof ReadableStream === 'undefined' || typeof AbortController === 'undefined') {
      this.fallBack('this browser cannot read a response as a stream');
      return;
    }
    this.connect();
  }

  stop() {
    this.running = false;
    this.close();
    this.polling?.stop();
  }

  /** Reads the state again now; resolves with the new snapshot. */
  async refresh() {
    if (this.polling) return this.polling.refresh();
    await this.resync();
    return this.snapshot;
  }

  /** A standby whose leader the browser cannot reach: poll the leader through this master. */
  useLeaderProxy() {
    return this.fallBack('the leader is read through this master').useLeaderProxy();
  }

  /** Switches to polling for good (idempotent); returns the polling source. */
  fallBack(why) {
    if (!this.polling) {
      console.info(`web UI: polling the master instead of its event stream (${why})`);
      this.close();
      this.polling = new PollingSource();
      this.polling.subscribe((s) => this.emit(s));
      if (this.running) this.polling.start();
    }
    return this.polling;
  }

  emit(snapshot) {
    this.snapshot = snapshot;
    for (const fn of this.listeners) {
      try {
        fn(snapshot);
      } catch (e) {
        console.error('a listener failed', e);
      }
    }
  }

  /** Closes the open stream and stops the timers. */
  close() {
    this.abort?.abort();
    this.abort = null;
    for (const t of Object.values(this.timers)) clearTimeout(t);
    this.timers = {};
  }

  async connect() {
    if (!this.running || this.polling) return;
    const abort = new AbortController();
    this.abort = abort;
    this.silenceMs = FIRST_SILENCE_MS;
    this.watch(abort);
    let response;
    try {
      response = await fetch('/api/v1', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ type: 'SUBSCRIBE' }),
        redirect: 'manual',
        cache: 'no-store',
        signal: abort.signal,
      });
    } catch (e) {
      this.broken(`cannot reach the master: ${e.message}`, abort);
      return;
    }
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      this.fallBack('this master is not the leader');
      return;
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).trim();
      // 503: no leader yet (elections); anything else means no stream here.
      if (response.status === 503) this.broken(`${response.status} ${text}`, abort);
      else this.fallBack(`SUBSCRIBE answered ${response.status} ${text}`);
      return;
    }
    if (!response.body?.getReader) {
      this.fallBack('this browser cannot read a response as a stream');
      return;
    }
    const reader = response.body.getReader();
    const parser = new RecordIOParser();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.watch(abort);
        for (const record of parser.push(value)) this.onEvent(JSON.parse(record), abort);
      }
      this.broken('the master closed the event stream', abort);
    } catch (e) {
      this.broken(abort.signal.aborted ? 'the event stream went silent' : `the event stream broke: ${e.message}`, abort);
    }
  }

  /** (Re)arms the watchdog that closes a stream silent for longer than heartbeats allow. */
  watch(abort) {
    clearTimeout(this.timers.silence);
    this.timers.silence = setTimeout(() => abort.abort(), this.silenceMs);
  }

  /** The stream `abort` broke: show why, keep the last data, open it again later. */
  broken(why, abort) {
    if (abort !== this.abort || !this.running || this.polling) return;
    this.close();
    this.pending = null;
    this.emit({
      ...(this.snapshot ?? { state: null, metrics: {}, roles: null, leader: 'unknown' }),
      source: 'stream',
      error: `${why}; reconnecting in ${Math.round(this.delay / 1000)} s`,
      at: Date.now(),
    });
    this.timers.reconnect = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(RECONNECT_MAX_MS, this.delay * 2);
  }

  onEvent(event, abort) {
    if (abort !== this.abort) return;
    switch (event?.type) {
      case 'SUBSCRIBED': {
        const beat = Number(event.subscribed?.heartbeat_interval_seconds ?? 15) * 1000;
        this.silenceMs = Math.max(10000, 3 * beat);
        this.watch(abort);
        this.delay = RECONNECT_MIN_MS;
        this.resync();
        this.readOffersLater();
        return;
      }
      case 'HEARTBEAT':
        return;
      default:
        if (this.pending) this.pending.push(event);
        else if (this.model && this.model.apply(event) === 'resync') this.resync();
        else this.emitSoon();
    }
  }

  /** Reads /master/state (and /roles) as the model, then applies the events received meanwhile. */
  resync() {
    const abort = this.abort;
    if (this.resyncing?.abort === abort) return this.resyncing.done;
    this.pending ??= [];
    const done = (async () => {
      try {
        const [state, roles] = await Promise.all([
          getJson('/master/state'),
          getJson('/roles').catch(() => ({ body: { roles: [] } })),
        ]);
        if (abort !== this.abort) return;
        if (state.redirected) {
          this.fallBack('this master is no longer the leader');
          return;
        }
        this.roles = roles.body ?? { roles: [] };
        this.model = new LiveModel(state.body);
        const again = this.pending.map((e) => this.model.apply(e)).includes('resync');
        this.pending = null;
        this.emitNow();
        if (again) queueMicrotask(() => this.resync());
      } catch (e) {
        this.broken(`cannot read the master's state: ${e.message}`, abort);
      } finally {
        if (this.resyncing?.abort === abort) this.resyncing = null;
      }
    })();
    this.resyncing = { abort, done };
    return done;
  }

  /** The offered resources, read every `offersInterval` from /master/state-summary. */
  readOffersLater() {
    clearTimeout(this.timers.offers);
    this.timers.offers = setTimeout(async () => {
      const abort = this.abort;
      try {
        const summary = await getJson('/master/state-summary');
        if (abort === this.abort && this.model && summary.body) {
          this.model.offersFrom(summary.body);
          this.emitSoon();
        }
      } catch {
        // The stream's own health decides about reconnecting.
      }
      if (abort === this.abort) this.readOffersLater();
    }, this.offersInterval);
  }

  emitSoon() {
    if (this.timers.emit) return;
    this.timers.emit = setTimeout(() => {
      delete this.timers.emit;
      this.emitNow();
    }, EMIT_DELAY_MS);
  }

  emitNow() {
    if (!this.model) return;
    this.model.derive();
    this.emit({
      state: this.model.state,
      metrics: {},
      roles: this.roles,
      at: Date.now(),
      leader: 'self',
      source: 'stream',
    });
  }
}
