// One agent: the master's view of it (resources, attributes), and from the agent itself
// (its /state and /monitor/statistics) its frameworks, executors with their resource
// statistics and sandboxes, and its tasks.

import { esc, num, mb, bytes, time, kv, link, seg, scalar, findAgent, findFramework, SCALARS, res } from '../format.js';
import { PagedTable } from '../table.js';
import { taskColumns } from '../columns.js';
import { agentState, monitorStatistics } from '../agent_api.js';

/** A link to an executor's sandbox in the browser page. */
export function sandboxLink(agentId, directory, text = 'Sandbox') {
  const d = encodeURIComponent(directory);
  return link(`/agents/${seg(agentId)}/browse?sandbox=${d}&path=${d}`, text);
}

export function mount(root, { params }) {
  root.innerHTML = `<div class="breadcrumb">${link('/agents', 'Agents')} › ${esc(params.id)}</div>
    <h1>Agent <span id="host">${esc(params.id)}</span></h1>
    <div class="grid"><section class="card" id="info"></section><section class="card" id="resources"></section></div>
    <p id="agent-error" class="error" hidden></p>
    <h2>Frameworks</h2><div id="frameworks"></div>
    <h2>Executors</h2><div id="executors"></div>
    <h2>Tasks</h2><div id="tasks"></div>`;
  let stats = new Map();
  let state = null;
  const frameworks = new PagedTable(root.querySelector('#frameworks'), [
    { title: 'ID', value: (f) => f.id, html: (f) => link(`/frameworks/${seg(f.id)}`, f.id) },
    { title: 'Name', value: (f) => f.name },
    { title: 'User', value: (f) => f.user },
    { title: 'Role', value: (f) => f.role },
    { title: 'Executors', value: (f) => (f.executors ?? []).length, num: true },
    { title: 'Status', value: (f) => f.status },
  ], { name: 'agent-frameworks', empty: 'No frameworks on this agent.' });
  const statOf = (e) => stats.get(`${e.framework_id}/${e.id}`)?.statistics;
  const executors = new PagedTable(root.querySelector('#executors'), [
    { title: 'ID', value: (e) => e.id },
    { title: 'Framework', value: (e) => e.framework_id, html: (e) => link(`/frameworks/${seg(e.framework_id)}`, findFramework(state, e.framework_id)?.name ?? e.framework_id) },
    { title: 'State', value: (e) => e.state ?? '' },
    { title: 'Tasks', value: (e) => (e.tasks ?? []).length, num: true },
    { title: 'CPUs (limit)', value: (e) => scalar(e.resources, 'cpus'), num: true },
    { title: 'CPU time (user + sys)', value: (e) => (statOf(e)?.cpus_user_time_secs ?? 0) + (statOf(e)?.cpus_system_time_secs ?? 0),
      html: (e) => (statOf(e) ? `${num((statOf(e).cpus_user_time_secs ?? 0) + (statOf(e).cpus_system_time_secs ?? 0))} s` : '—'), num: true },
    { title: 'Mem (used / limit)', value: (e) => statOf(e)?.mem_rss_bytes ?? 0,
      html: (e) => esc(`${statOf(e) ? bytes(statOf(e).mem_rss_bytes ?? 0) : '—'} / ${mb(scalar(e.resources, 'mem'))}`), num: true },
    { title: 'Sandbox', value: (e) => e.directory, html: (e) => sandboxLink(params.id, e.directory) },
  ], { name: 'executors', empty: 'No executors on this agent.' });
  const tasks = new PagedTable(root.querySelector('#tasks'), taskColumns(), { name: 'agent-tasks', empty: 'No tasks on this agent.' });

  let fetching = false;
  async function refreshAgent(agent) {
    if (fetching) return;
    fetching = true;
    const error = root.querySelector('#agent-error');
    try {
      const [s, m] = await Promise.all([agentState(agent), monitorStatistics(agent).catch(() => [])]);
      stats = new Map((m ?? []).map((x) => [`${x.framework_id}/${x.executor_id}`, x]));
      const fws = [
        ...(s.frameworks ?? []).map((f) => ({ ...f, status: 'active' })),
        ...(s.completed_frameworks ?? []).map((f) => ({ ...f, status: 'completed' })),
      ];
      const execs = fws.flatMap((f) => [
        ...(f.executors ?? []).map((e) => ({ ...e, framework_id: f.id })),
        ...(f.completed_executors ?? []).map((e) => ({ ...e, framework_id: f.id, state: e.state || 'completed' })),
      ]);
      frameworks.setRows(fws);
      executors.setRows(execs);
      tasks.setRows(execs.flatMap((e) => [...(e.tasks ?? []), ...(e.queued_tasks ?? []).map((t) => ({ ...t, framework_id: e.framework_id })), ...(e.completed_tasks ?? [])]));
      error.hidden = true;
    } catch (e) {
      error.hidden = false;
      error.textContent = `Cannot read the agent's own state at ${agent.pid}: ${e.message}`;
    } finally {
      fetching = false;
    }
  }

  return {
    update(snapshot) {
      state = snapshot.state;
      const a = findAgent(state, params.id);
      if (!a) {
        root.querySelector('#info').innerHTML = '<span class="error">No such agent registered.</span>';
        return;
      }
      root.querySelector('#host').textContent = a.hostname;
      root.querySelector('#info').innerHTML = '<h3>Agent</h3>' + kv([
        ['ID', esc(a.id)],
        ['PID', esc(a.pid)],
        ['Host', esc(a.hostname)],
        ['Version', esc(a.version ?? '')],
        ['Active', esc(a.active ? 'yes' : 'no')],
        ['Registered', esc(time(a.registered_time))],
        ['Re-registered', esc(time(a.reregistered_time))],
        ['Attributes', esc(Object.entries(a.attributes ?? {}).map(([k, v]) => `${k}:${v}`).join('; ') || '—')],
      ]);
      root.querySelector('#resources').innerHTML = `<h3>Resources</h3><table><thead><tr><th></th>${SCALARS.map((k) => `<th class="num">${k}</th>`).join('')}</tr></thead><tbody>` +
        [['Total', a.resources], ['Used', a.used_resources], ['Offered', a.offered_resources]].map(([name, r]) =>
          `<tr><th>${name}</th>${SCALARS.map((k) => `<td class="num">${esc(res(k, scalar(r, k)))}</td>`).join('')}</tr>`).join('') +
        '</tbody></table>';
      refreshAgent(a);
    },
    destroy() {},
  };
}
