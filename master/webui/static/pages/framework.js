// One framework: its details, allocation over time, active and completed tasks, offers.

import { esc, num, mb, time, kv, link, seg, scalar, findFramework, findAgent } from '../format.js';
import { PagedTable } from '../table.js';
import { taskColumns } from '../columns.js';
import { lineChart } from '../chart.js';

export function mount(root, { params, app }) {
  root.innerHTML = `<div class="breadcrumb">${link('/frameworks', 'Frameworks')} › ${esc(params.id)}</div>
    <h1 id="title">Framework ${esc(params.id)}</h1>
    <div class="grid"><section class="card" id="info"></section><div id="charts"></div></div>
    <h2>Active tasks</h2><div id="tasks"></div>
    <h2>Completed tasks</h2><div id="completed"></div>
    <h2>Offers</h2><div id="offers"></div>`;
  let state = null;
  const agentOf = (t) => findAgent(state, t.slave_id);
  const tasks = new PagedTable(root.querySelector('#tasks'), taskColumns({ agentOf }), { name: 'tasks', empty: 'No active tasks.' });
  const completed = new PagedTable(root.querySelector('#completed'), taskColumns({ agentOf }), { name: 'completed-tasks', empty: 'No completed tasks.' });
  const offers = new PagedTable(root.querySelector('#offers'), [
    { title: 'ID', value: (o) => o.id },
    { title: 'Agent', value: (o) => o.slave_id, html: (o) => link(`/agents/${seg(o.slave_id)}`, findAgent(state, o.slave_id)?.hostname ?? o.slave_id) },
    { title: 'CPUs', value: (o) => scalar(o.resources, 'cpus'), num: true },
    { title: 'Mem', value: (o) => scalar(o.resources, 'mem'), html: (o) => mb(scalar(o.resources, 'mem')), num: true },
    { title: 'Disk', value: (o) => scalar(o.resources, 'disk'), html: (o) => mb(scalar(o.resources, 'disk')), num: true },
  ], { name: 'offers', empty: 'No outstanding offers.' });
  return {
    update(snapshot) {
      state = snapshot.state;
      const f = findFramework(state, params.id);
      if (!f) {
        root.querySelector('#info').innerHTML = '<span class="error">No such framework (it may have been removed).</span>';
        return;
      }
      root.querySelector('#title').textContent = `Framework ${f.name}`;
      root.querySelector('#info').innerHTML = '<h3>Framework</h3>' + kv([
        ['ID', esc(f.id)],
        ['Name', esc(f.name)],
        ['User', esc(f.user)],
        ['Roles', esc((f.roles ?? [f.role]).join(', '))],
        ['Principal', esc(f.principal ?? '')],
        ['Status', esc(f.active ? 'active' : f.unregistered_time ? 'completed' : 'inactive')],
        ['Registered', esc(time(f.registered_time))],
        ['Re-registered', esc(time(f.reregistered_time))],
        ['Failover timeout', esc(`${num(f.failover_timeout ?? 0)} s`)],
        ['Allocated', esc(`${num(scalar(f.used_resources, 'cpus'))} CPUs, ${mb(scalar(f.used_resources, 'mem'))}`)],
        ['Offered', esc(`${num(scalar(f.offered_resources, 'cpus'))} CPUs, ${mb(scalar(f.offered_resources, 'mem'))}`)],
        ['Web UI', f.webui_url ? `<a href="${esc(f.webui_url)}">${esc(f.webui_url)}</a>` : '—'],
      ]);
      const h = app.history;
      root.querySelector('#charts').innerHTML =
        lineChart({ title: 'CPUs allocated', format: (v) => num(v), series: [{ name: f.name, points: h.framework(f.id, 'cpus') }] }) +
        lineChart({ title: 'Memory allocated', format: mb, series: [{ name: f.name, points: h.framework(f.id, 'mem') }] });
      tasks.setRows([...(f.tasks ?? []), ...(f.unreachable_tasks ?? [])]);
      completed.setRows(f.completed_tasks ?? []);
      offers.setRows(f.offers ?? []);
    },
    destroy() {},
  };
}
