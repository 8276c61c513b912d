// Home: the cluster at a glance (master, agents, task counts, resources), charts of
// allocated CPU and memory over time, and the active frameworks and agents.

import {
  esc, num, mb, res, time, ago, kv, link, seg, SCALARS, TASK_STATES, stateName,
  clusterResources, taskCounts, scalar,
} from '../format.js';
import { PagedTable } from '../table.js';
import { lineChart } from '../chart.js';

/** A figure the tests can read: its value in data-value, formatted as text. */
function figure(name, value, text = num(value)) {
  return `<span data-figure="${esc(name)}" data-value="${esc(value)}">${esc(text)}</span>`;
}

export function mount(root, { app }) {
  root.innerHTML = `<h1>Cluster</h1>
    <div class="grid">
      <section class="card" id="master"><h3>Master</h3></section>
      <section class="card" id="agents-card"><h3>Agents</h3></section>
      <section class="card" id="tasks-card"><h3>Tasks</h3></section>
      <section class="card" id="resources-card"><h3>Resources</h3></section>
    </div>
    <h2>Allocation over time</h2>
    <div class="grid" id="charts"></div>
    <h2>Active frameworks</h2><div id="frameworks"></div>
    <h2>Agents</h2><div id="agents"></div>`;
  const frameworks = new PagedTable(root.querySelector('#frameworks'), [
    { title: 'ID', value: (f) => f.id, html: (f) => link(`/frameworks/${seg(f.id)}`, f.id) },
    { title: 'User', value: (f) => f.user },
    { title: 'Name', value: (f) => f.name },
    { title: 'Active tasks', value: (f) => (f.tasks ?? []).length, num: true },
    { title: 'CPUs', value: (f) => scalar(f.used_resources, 'cpus'), html: (f) => num(scalar(f.used_resources, 'cpus')), num: true },
    { title: 'Mem', value: (f) => scalar(f.used_resources, 'mem'), html: (f) => mb(scalar(f.used_resources, 'mem')), num: true },
    { title: 'Max share', value: (f) => f.maxShare, html: (f) => `${num(f.maxShare * 100, 1)}%`, num: true },
    { title: 'Registered', value: (f) => f.registered_time, html: (f) => esc(time(f.registered_time)) },
    { title: 'Re-registered', value: (f) => f.reregistered_time ?? 0, html: (f) => esc(time(f.reregistered_time)) },
  ], { name: 'frameworks', empty: 'No active frameworks.' });
  const agents = new PagedTable(root.querySelector('#agents'), [
    { title: 'ID', value: (a) => a.id, html: (a) => link(`/agents/${seg(a.id)}`, a.id) },
    { title: 'Host', value: (a) => a.hostname },
    { title: 'CPUs', value: (a) => scalar(a.resources, 'cpus'), html: (a) => num(scalar(a.resources, 'cpus')), num: true },
    { title: 'Mem', value: (a) => scalar(a.resources, 'mem'), html: (a) => mb(scalar(a.resources, 'mem')), num: true },
    { title: 'Disk', value: (a) => scalar(a.resources, 'disk'), html: (a) => mb(scalar(a.resources, 'disk')), num: true },
    { title: 'Registered', value: (a) => a.registered_time, html: (a) => esc(time(a.registered_time)) },
  ], { name: 'agents', empty: 'No agents.' });

  return {
    update({ state }) {
      const leader = state.leader_info ?? {};
      root.querySelector('#master').innerHTML = '<h3>Master</h3>' + kv([
        ['Cluster', esc(state.cluster ?? '(unnamed)')],
        ['Leader', `<span data-figure="leader">${esc(state.leader ?? '')}</span>`],
        ['Server', esc(`${leader.hostname || leader.address?.ip || ''}:${leader.port ?? ''}`)],
        ['Version', esc(state.version)],
        ['Built', esc(state.build_date || '—')],
        ['Started', esc(`${time(state.start_time)} (${ago(state.start_time)})`)],
        ['Elected', esc(time(state.elected_time))],
        ['Master ID', `<span data-figure="master-id">${esc(state.id)}</span>`],
        ['Log', state.flags?.log_dir ? link('/log', 'master log', 'id="master-log"')
          : '<span class="muted">none (no --log_dir)</span>'],
      ]);
      root.querySelector('#agents-card').innerHTML = '<h3>Agents</h3>' + kv([
        ['Activated', figure('agents-activated', state.activated_slaves ?? 0)],
        ['Deactivated', figure('agents-deactivated', state.deactivated_slaves ?? 0)],
        ['Unreachable', figure('agents-unreachable', state.unreachable_slaves ?? 0)],
      ]);
      const counts = taskCounts(state);
      const shown = TASK_STATES.filter((s) => counts[s] > 0 ||
        ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_KILLED', 'TASK_FAILED', 'TASK_LOST'].includes(s));
      root.querySelector('#tasks-card').innerHTML = '<h3>Tasks</h3>' + kv(shown.map((s) =>
        [stateName(s), figure(`tasks-${s}`, counts[s])]));
      const r = clusterResources(state);
      root.querySelector('#resources-card').innerHTML = `<h3>Resources</h3><table class="resources">
        <thead><tr><th></th>${SCALARS.map((k) => `<th class="num">${esc(k === 'cpus' ? 'CPUs' : k === 'gpus' ? 'GPUs' : k === 'mem' ? 'Mem' : 'Disk')}</th>`).join('')}</tr></thead>
        <tbody>${['total', 'used', 'offered', 'idle'].map((kind) => `<tr><th>${kind.charAt(0).toUpperCase() + kind.slice(1)}</th>${SCALARS.map((k) =>
          `<td class="num">${figure(`${k}-${kind}`, r[kind][k], res(k, r[kind][k]))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
      {
        const h = app.history;
        root.querySelector('#charts').innerHTML =
          lineChart({ title: 'CPUs allocated', format: (v) => num(v), series: [
            { name: 'allocated', points: h.cluster('used', 'cpus') },
            { name: 'total', points: h.cluster('total', 'cpus') }] }) +
          lineChart({ title: 'Memory allocated', format: mb, series: [
            { name: 'allocated', points: h.cluster('used', 'mem') },
            { name: 'total', points: h.cluster('total', 'mem') }] });
      }
      const totalCpus = r.total.cpus || 1;
      const totalMem = r.total.mem || 1;
      frameworks.setRows((state.frameworks ?? []).filter((f) => f.active).map((f) => ({
        ...f,
        maxShare: Math.max(scalar(f.used_resources, 'cpus') / totalCpus, scalar(f.used_resources, 'mem') / totalMem),
      })));
      agents.setRows(state.slaves ?? []);
    },
    destroy() {},
  };
}
