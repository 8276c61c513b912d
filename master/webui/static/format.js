// Formatting and arithmetic shared by the pages: HTML escaping, numbers, sizes, times,
// resource sums and task counts computed from a /master/state document.

/** Escapes text for use in HTML (element content and quoted attributes). */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

/** A number with at most `digits` decimals, trailing zeros dropped. */
export function num(value, digits = 2) {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n)) return '0';
  return String(Math.round(n * 10 ** digits) / 10 ** digits);
}

/** Megabytes (Mesos's unit for mem and disk) as a readable size. */
export function mb(value) {
  const n = Number(value ?? 0);
  if (n >= 1024 * 1024) return `${num(n / (1024 * 1024))} TB`;
  if (n >= 1024) return `${num(n / 1024)} GB`;
  return `${num(n)} MB`;
}

/** Bytes as a readable size. */
export function bytes(value) {
  const n = Number(value ?? 0);
  if (n >= 1 << 30) return `${num(n / (1 << 30))} GB`;
  if (n >= 1 << 20) return `${num(n / (1 << 20))} MB`;
  if (n >= 1 << 10) return `${num(n / (1 << 10))} KB`;
  return `${n} B`;
}

/** Seconds since the epoch as a local date and time ('' for none). */
export function time(seconds) {
  const s = Number(seconds ?? 0);
  if (!s) return '';
  const d = new Date(s * 1000);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** How long ago `seconds` (since the epoch) was, e.g. '3 min ago'. */
export function ago(seconds, now = Date.now() / 1000) {
  const s = Number(seconds ?? 0);
  if (!s) return '';
  const d = Math.max(0, now - s);
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

/** The scalar resource names the UI shows. */
export const SCALARS = ['cpus', 'gpus', 'mem', 'disk'];

/** One scalar of a resources map (Mesos's JSON: {"cpus": 1, "mem": 128, ...}). */
export function scalar(resources, name) {
  const v = resources?.[name];
  return typeof v === 'number' ? v : 0;
}

/** Sums the scalars of a list of resources maps. */
export function sum(list) {
  const out = { cpus: 0, gpus: 0, mem: 0, disk: 0 };
  for (const r of list) for (const k of SCALARS) out[k] += scalar(r, k);
  return out;
}

/** A scalar formatted for its kind (sizes for mem and disk). */
export function res(name, value) {
  return name === 'mem' || name === 'disk' ? mb(value) : num(value);
}

/** The cluster's total, used, offered and idle scalars from a state document. */
export function clusterResources(state) {
  const agents = state?.slaves ?? [];
  const total = sum(agents.map((a) => a.resources));
  const used = sum(agents.map((a) => a.used_resources));
  const offered = sum(agents.map((a) => a.offered_resources));
  const idle = {};
  for (const k of SCALARS) idle[k] = Math.max(0, total[k] - used[k] - offered[k]);
  return { total, used, offered, idle };
}

/** Every task state the UI counts, in display order. */
export const TASK_STATES = [
  'TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED',
  'TASK_KILLED', 'TASK_FAILED', 'TASK_LOST', 'TASK_ERROR', 'TASK_UNREACHABLE',
  'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
];

/** Every task of every framework (active and completed ones), each once. */
export function allTasks(state) {
  const out = [];
  for (const f of [...(state?.frameworks ?? []), ...(state?.completed_frameworks ?? [])]) {
    for (const t of f.tasks ?? []) out.push(t);
    for (const t of f.unreachable_tasks ?? []) out.push(t);
    for (const t of f.completed_tasks ?? []) out.push(t);
  }
  return out;
}

/** Count of tasks per state (every state of TASK_STATES present, zero if none). */
export function taskCounts(state) {
  const counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0]));
  for (const t of allTasks(state)) counts[t.state] = (counts[t.state] ?? 0) + 1;
  return counts;
}

/** 'TASK_RUNNING' → 'Running'. */
export function stateName(state) {
  const s = String(state ?? '').replace(/^TASK_/, '').toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A link to a page of the UI (hash routing). */
export function link(path, text, attrs = '') {
  return `<a href="#${esc(path)}" ${attrs}>${esc(text)}</a>`;
}

/** URL-safe path segment. */
export function seg(value) {
  return encodeURIComponent(String(value ?? ''));
}

/** A definition list from [label, html] pairs (values are HTML, already escaped). */
export function kv(pairs) {
  return `<dl class="kv">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

/** The framework with this id among active and completed ones, or undefined. */
export function findFramework(state, id) {
  return (state?.frameworks ?? []).find((f) => f.id === id) ??
    (state?.completed_frameworks ?? []).find((f) => f.id === id);
}

/** The agent with this id, or undefined. */
export function findAgent(state, id) {
  return (state?.slaves ?? []).find((a) => a.id === id);
}
