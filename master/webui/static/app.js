// The web UI's entry point: wires the data source (the master's event stream, polling
// where there is none), the sample history, the router and
// the pages. Each page module exports `mount(root, { params, query, app })` returning
// `{ update(snapshot), destroy() }`; the app re-mounts on navigation and forwards every
// snapshot to the mounted page.

import { StreamSource } from './source.js';
import { History } from './history.js';
import { parseHash, match } from './router.js';
import { esc, time } from './format.js';
import * as home from './pages/home.js';
import * as frameworks from './pages/frameworks.js';
import * as framework from './pages/framework.js';
import * as agents from './pages/agents.js';
import * as agent from './pages/agent.js';
import * as task from './pages/task.js';
import * as roles from './pages/roles.js';
import * as offers from './pages/offers.js';
import * as sandbox from './pages/sandbox.js';
import * as log from './pages/log.js';

const ROUTES = [
  { pattern: '/', page: home, nav: 'home' },
  { pattern: '/frameworks', page: frameworks, nav: 'frameworks' },
  { pattern: '/frameworks/:id', page: framework, nav: 'frameworks' },
  { pattern: '/agents', page: agents, nav: 'agents' },
  { pattern: '/agents/:id', page: agent, nav: 'agents' },
  { pattern: '/agents/:id/browse', page: sandbox, nav: 'agents' },
  { pattern: '/tasks/:framework/:id', page: task, nav: 'frameworks' },
  { pattern: '/roles', page: roles, nav: 'roles' },
  { pattern: '/offers', page: offers, nav: 'offers' },
  { pattern: '/log', page: log, nav: 'home' },
];

/** How long the "not the leader" notice shows before the browser goes to the leader. */
const LEADER_REDIRECT_MS = 1500;
/** How long the browser may take to reach the leader before the UI reads it through this master. */
const LEADER_PROBE_MS = 4000;

const view = document.getElementById('view');
const banner = document.getElementById('banner');
const status = document.getElementById('status');

const source = new StreamSource();
const history = new History();
const app = { source, history };
let current = null;
let redirecting = false;

function showBanner(html) {
  banner.innerHTML = html;
  banner.hidden = !html;
}

/** Whether the browser reaches the leader at the address the standby's redirect names. */
async function leaderReachable() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), LEADER_PROBE_MS);
  try {
    // An opaque answer is enough: it means the redirect's host resolved and answered.
    await fetch('/master/redirect', { mode: 'no-cors', cache: 'no-store', signal: abort.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** A standby master: send the browser to the leader, or read the leader through this master. */
async function followLeader() {
  redirecting = true;
  document.body.dataset.leader = 'other';
  showBanner('This master is not the leader. Taking you to the <a href="/master/redirect">leading master</a>…');
  if (await leaderReachable()) {
    // /master/redirect answers a redirect to the leader, and the browser keeps this
    // page's #fragment across it, so the same page opens on the leader.
    setTimeout(() => location.replace(`/master/redirect${location.hash}`), LEADER_REDIRECT_MS);
    return;
  }
  // The leader's advertised address does not resolve or answer from here (the Docker
  // demo's masterN names): this master reads the leader's state for the page instead.
  showBanner('This master is not the leader, and the leader\'s advertised address is not reachable ' +
    'from this browser: showing the leader\'s state, read through this master.');
  source.useLeaderProxy();
}

function onSnapshot(snapshot) {
  history.record(snapshot);
  if (snapshot.leader === 'other' && !redirecting) {
    followLeader();
    return;
  }
  if (snapshot.leader === 'self' || snapshot.leader === 'proxied') {
    document.body.dataset.leader = snapshot.leader;
    if (snapshot.leader === 'self') showBanner('');
  }
  // 'stream' while the page follows the master's events, 'polling' otherwise.
  document.body.dataset.source = snapshot.source ?? '';
  status.classList.toggle('error', Boolean(snapshot.error));
  status.textContent = snapshot.error
    ? snapshot.error
    : `${snapshot.source === 'stream' ? 'live, ' : ''}updated ${time(snapshot.at / 1000)}`;
  if (snapshot.state && current) render(snapshot);
}

/**
 * Updates the mounted page, recording for benchmarks how long it took (data-render-ms),
 * when the first render ended (ms since navigation) and when the last did (ms since the epoch).
 */
function render(snapshot) {
  const start = performance.now();
  current.update(snapshot);
  const end = performance.now();
  document.body.dataset.renderMs = String(Math.round(end - start));
  document.body.dataset.firstRenderAt ??= String(Math.round(end));
  document.body.dataset.lastRenderAt = String(Math.round(performance.timeOrigin + end));
  document.body.dataset.renders = String(Number(document.body.dataset.renders ?? 0) + 1);
}

function navigate() {
  const parsed = parseHash(location.hash);
  const found = match(ROUTES, parsed);
  if (current) current.destroy();
  current = null;
  view.innerHTML = '';
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', found?.route.nav === a.dataset.nav);
  }
  if (!found) {
    view.innerHTML = `<h1>Not found</h1><p>No page at <code>${esc(location.hash)}</code>. <a href="#/">Home</a></p>`;
    return;
  }
  current = found.route.page.mount(view, { params: found.params, query: parsed.query, app });
  const latest = source.latest();
  if (latest?.state) render(latest);
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', navigate);
source.subscribe(onSnapshot);
navigate();
source.start();
