// The web UI's entry point: wires the data source, the sample history, the router and
// the pages. Each page module exports `mount(root, { params, query, app })` returning
// `{ update(snapshot), destroy() }`; the app re-mounts on navigation and forwards every
// snapshot to the mounted page.

import { PollingSource } from './source.js';
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
];

/** How long the "not the leader" notice shows before the browser goes to the leader. */
const LEADER_REDIRECT_MS = 1500;

const view = document.getElementById('view');
const banner = document.getElementById('banner');
const status = document.getElementById('status');

const source = new PollingSource();
const history = new History();
const app = { source, history };
let current = null;
let redirecting = false;

function showBanner(html) {
  banner.innerHTML = html;
  banner.hidden = !html;
}

function onSnapshot(snapshot) {
  history.record(snapshot);
  if (snapshot.leader === 'other' && !redirecting) {
    // A standby master: /master/redirect answers a redirect to the leader, and the browser
    // keeps this page's #fragment across it, so the same page opens on the leader.
    redirecting = true;
    showBanner('This master is not the leader. Taking you to the <a href="/master/redirect">leading master</a>…');
    document.body.dataset.leader = 'other';
    setTimeout(() => location.replace(`/master/redirect${location.hash}`), LEADER_REDIRECT_MS);
    return;
  }
  if (snapshot.leader === 'self') {
    document.body.dataset.leader = 'self';
    showBanner('');
  }
  status.classList.toggle('error', Boolean(snapshot.error));
  status.textContent = snapshot.error
    ? snapshot.error
    : `updated ${time(snapshot.at / 1000)}`;
  if (snapshot.state && current) render(snapshot);
}

/** Updates the mounted page, recording how long it took (data-render-ms, for benchmarks). */
function render(snapshot) {
  const start = performance.now();
  current.update(snapshot);
  const end = performance.now();
  document.body.dataset.renderMs = String(Math.round(end - start));
  document.body.dataset.firstRenderAt ??= String(Math.round(end));
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
