// The page's model of the cluster kept current by the operator API's SUBSCRIBE events.
// The model is a /master/state document (what every page renders); the events carry the
// v1 API's shapes (ids as {value}, resources as lists, times as {nanoseconds}), which are
// converted here. Applying an event twice changes nothing, so events that overlap the
// state the model started from are harmless. Sums derived from the tasks (the resources
// tasks use per agent and framework, agent counts) are recomputed by `derive()`.
//
// What the events do not say exactly (the fate of a removed framework's or agent's tasks)
// `apply` answers with 'resync': the caller reads /master/state again.

import { SCALARS } from './format.js';

const TERMINAL = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED',
  'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
]);

/** Whether a task state is terminal. */
export function isTerminal(state) {
  return TERMINAL.has(state);
}

const value = (id) => (id && typeof id === 'object' ? id.value : id) ?? '';
const seconds = (t) => (t && typeof t === 'object' ? Number(t.nanoseconds ?? 0) / 1e9 : Number(t ?? 0));

/** A v1 resource list as /master/state's map: scalars summed, ranges and sets as text. */
export function resourcesMap(list) {
  const out = {};
  for (const r of list ?? []) {
    if (r.type === 'SCALAR' || r.scalar) {
      out[r.name] = (out[r.name] ?? 0) + Number(r.scalar?.value ?? 0);
    } else if (r.ranges) {
      const text = (r.ranges.range ?? []).map((x) => `${x.begin}-${x.end}`).join(', ');
      out[r.name] = out[r.name] ? `${out[r.name].slice(0, -1)}, ${text}]` : `[${text}]`;
    } else if (r.set) {
      out[r.name] = `{${(r.set.item ?? []).join(', ')}}`;
    }
  }
  return out;
}

/** v1 attributes ([{name, type, text|scalar|ranges}]) as /master/state's map. */
function attributesMap(list) {
  const out = {};
  for (const a of list ?? []) {
    out[a.name] = a.text?.value ?? a.scalar?.value ?? resourcesMap([a])[a.name];
  }
  return out;
}

/** A v1 TaskStatus as /master/state's status entry. */
export function statusFromV1(s) {
  const out = { state: s.state, timestamp: Number(s.timestamp ?? 0) };
  for (const k of ['message', 'source', 'reason', 'healthy', 'uuid']) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  return out;
}

/** A v1 Task as /master/state's task (`user` is the framework's, Mesos's default). */
export function taskFromV1(t, user) {
  const out = {
    id: value(t.task_id),
    name: t.name ?? '',
    framework_id: value(t.framework_id),
    executor_id: value(t.executor_id),
    slave_id: value(t.agent_id),
    state: t.state,
    resources: resourcesMap(t.resources),
    statuses: (t.statuses ?? []).map(statusFromV1),
  };
  if (user) out.user = user;
  if (t.role) out.role = t.role;
  return out;
}

/** A v1 agent (GET_AGENTS) as /master/state's agent, keeping `old`'s derived fields. */
export function agentFromV1(a, old = {}) {
  const info = a.agent_info ?? {};
  const out = {
    ...old,
    id: value(info.id),
    pid: a.pid ?? old.pid ?? '',
    hostname: info.hostname ?? '',
    port: info.port ?? 5051,
    resources: resourcesMap(a.total_resources ?? info.resources),
    attributes: attributesMap(info.attributes),
    active: Boolean(a.active),
    deactivated: Boolean(a.deactivated),
    version: a.version ?? '',
    registered_time: seconds(a.registered_time),
  };
  out.used_resources ??= {};
  out.offered_resources ??= {};
  if (a.reregistered_time) out.reregistered_time = seconds(a.reregistered_time);
  return out;
}

/** A v1 framework (GET_FRAMEWORKS) as /master/state's, keeping `old`'s tasks and offers. */
export function frameworkFromV1(f, old = {}) {
  const info = f.framework_info ?? {};
  const roles = info.roles?.length ? info.roles : [info.role ?? '*'];
  const out = {
    tasks: [], unreachable_tasks: [], completed_tasks: [], offers: [], executors: [],
    used_resources: {}, offered_resources: {},
    ...old,
    id: value(info.id),
    name: info.name ?? '',
    user: info.user ?? '',
    hostname: info.hostname ?? '',
    webui_url: info.webui_url ?? '',
    role: roles[0],
    roles,
    principal: info.principal,
    active: Boolean(f.active),
    connected: Boolean(f.connected),
    recovered: Boolean(f.recovered),
    failover_timeout: info.failover_timeout ?? 0,
    checkpoint: Boolean(info.checkpoint),
    registered_time: seconds(f.registered_time),
    unregistered_time: seconds(f.unregistered_time),
  };
  if (f.reregistered_time) out.reregistered_time = seconds(f.reregistered_time);
  return out;
}

/** Sums the scalar values of resource maps (numbers only; ranges and sets are skipped). */
function addScalars(into, r) {
  for (const [k, v] of Object.entries(r ?? {})) {
    if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
  }
}

export class LiveModel {
  /** Starts from a /master/state document (kept and changed in place). */
  constructor(state) {
    this.state = state;
    state.frameworks ??= [];
    state.completed_frameworks ??= [];
    state.slaves ??= [];
  }

  framework(id) {
    return this.state.frameworks.find((f) => f.id === id);
  }

  /** Applies one SUBSCRIBE event: 'ok', 'ignored', or 'resync' (read the state again). */
  apply(event) {
    switch (event?.type) {
      case 'TASK_ADDED': return this.taskAdded(event.task_added?.task ?? {});
      case 'TASK_UPDATED': return this.taskUpdated(event.task_updated ?? {});
      case 'AGENT_ADDED': {
        const a = event.agent_added?.agent ?? {};
        const id = value(a.agent_info?.id);
        const i = this.state.slaves.findIndex((x) => x.id === id);
        if (i >= 0) this.state.slaves[i] = agentFromV1(a, this.state.slaves[i]);
        else this.state.slaves.push(agentFromV1(a));
        return 'ok';
      }
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const f = event.framework_added?.framework ?? event.framework_updated?.framework ?? {};
        const id = value(f.framework_info?.id);
        const i = this.state.frameworks.findIndex((x) => x.id === id);
        if (i >= 0) this.state.frameworks[i] = frameworkFromV1(f, this.state.frameworks[i]);
        else this.state.frameworks.push(frameworkFromV1(f));
        return 'ok';
      }
      // The removed agent's or framework's tasks end in states the events do not carry.
      case 'AGENT_REMOVED':
      case 'FRAMEWORK_REMOVED':
        return 'resync';
      default:
        return 'ignored';
    }
  }

  taskAdded(t) {
    const f = this.framework(value(t.framework_id));
    if (!f) return 'resync';
    const id = value(t.task_id);
    const known = (list) => (list ?? []).some((x) => x.id === id);
    if (known(f.tasks) || known(f.unreachable_tasks) || known(f.completed_tasks)) return 'ok';
    const task = taskFromV1(t, f.user);
    (isTerminal(task.state) ? f.completed_tasks : f.tasks).push(task);
    // The offer the task was launched from is used up.
    f.offers = (f.offers ?? []).filter((o) => o.slave_id !== task.slave_id);
    return 'ok';
  }

  taskUpdated(u) {
    const f = this.framework(value(u.framework_id));
    const status = u.status ?? {};
    const id = value(status.task_id);
    if (!f) return 'resync';
    let list = f.tasks;
    let i = list.findIndex((x) => x.id === id);
    if (i < 0) {
      list = f.unreachable_tasks ?? [];
      i = list.findIndex((x) => x.id === id);
    }
    if (i < 0) {
      // Already completed (an update the state read had seen): nothing new.
      return (f.completed_tasks ?? []).some((x) => x.id === id) ? 'ok' : 'resync';
    }
    const task = list[i];
    const entry = statusFromV1(status);
    const last = task.statuses[task.statuses.length - 1];
    const repeat = last && (entry.uuid ? last.uuid === entry.uuid
      : last.state === entry.state && last.timestamp === entry.timestamp);
    if (!repeat) task.statuses.push(entry);
    task.state = u.state ?? status.state ?? task.state;
    if (isTerminal(task.state)) {
      list.splice(i, 1);
      f.completed_tasks.push(task);
    } else if (list !== f.tasks) {
      list.splice(i, 1);
      f.tasks.push(task);
    }
    return 'ok';
  }

  /** Recomputes what derives from the tasks and agents (as the master computes it). */
  derive() {
    const byAgent = new Map();
    for (const f of this.state.frameworks) {
      const used = {};
      for (const t of f.tasks ?? []) {
        if (isTerminal(t.state)) continue;
        addScalars(used, t.resources);
        if (!byAgent.has(t.slave_id)) byAgent.set(t.slave_id, {});
        addScalars(byAgent.get(t.slave_id), t.resources);
      }
      for (const k of SCALARS) used[k] ??= 0;
      f.used_resources = used;
      f.resources = used;
      f.allocated_resources = used;
    }
    let active = 0;
    for (const a of this.state.slaves) {
      a.used_resources = byAgent.get(a.id) ?? {};
      if (a.active) active += 1;
    }
    this.state.activated_slaves = active;
    this.state.deactivated_slaves = this.state.slaves.length - active;
  }

  /**
   * Takes the offered resources from a /master/state-summary (the events carry no offers;
   * the list of a framework's offers is as of the last state read, or empty).
   */
  offersFrom(summary) {
    const agents = new Map((summary?.slaves ?? []).map((a) => [a.id, a]));
    for (const a of this.state.slaves) {
      const s = agents.get(a.id);
      if (s) a.offered_resources = s.offered_resources ?? {};
    }
    const frameworks = new Map((summary?.frameworks ?? []).map((f) => [f.id, f]));
    for (const f of this.state.frameworks) {
      const s = frameworks.get(f.id);
      if (!s) continue;
      f.offered_resources = s.offered_resources ?? {};
      // The summary lists no offers; a framework offered nothing has none outstanding.
      if (!Object.values(f.offered_resources).some((v) => typeof v === 'number' && v > 0)) f.offers = [];
    }
  }
}
