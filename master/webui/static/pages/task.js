// One task: where it runs, its resources, its status history (with sources, reasons and
// messages), and a link to its executor's sandbox (found in the agent's own /state).

import { esc, num, mb, time, kv, link, seg, scalar, findFramework, findAgent, allTasks, stateName } from '../format.js';
import { agentState } from '../agent_api.js';
import { sandboxLink } from './agent.js';

/** The sandbox directory of the executor that ran `task`, from an agent's /state. */
export function sandboxOf(agentStateJson, task) {
  const fws = [...(agentStateJson.frameworks ?? []), ...(agentStateJson.completed_frameworks ?? [])];
  for (const f of fws.filter((x) => x.id === task.framework_id)) {
    for (const e of [...(f.executors ?? []), ...(f.completed_executors ?? [])]) {
      const ids = [...(e.tasks ?? []), ...(e.queued_tasks ?? []), ...(e.completed_tasks ?? [])].map((t) => t.id);
      if (e.id === task.executor_id || ids.includes(task.id)) return e.directory;
    }
  }
  return null;
}

export function mount(root, { params }) {
  root.innerHTML = `<div class="breadcrumb">${link('/frameworks', 'Frameworks')} › ${link(`/frameworks/${seg(params.framework)}`, params.framework)} › ${esc(params.id)}</div>
    <h1>Task ${esc(params.id)}</h1>
    <div class="grid"><section class="card" id="info"></section></div>
    <h2>Status history</h2>
    <table id="statuses"><thead><tr><th>State</th><th>Time</th><th>Source</th><th>Reason</th><th>Message</th></tr></thead><tbody></tbody></table>`;
  let sandbox = null;
  let looking = false;

  async function findSandbox(agent, task) {
    if (looking || sandbox) return;
    looking = true;
    try {
      sandbox = sandboxOf(await agentState(agent), task);
    } catch {
      sandbox = null;
    } finally {
      looking = false;
    }
  }

  return {
    async update({ state }) {
      const f = findFramework(state, params.framework);
      const t = allTasks(state).find((x) => x.id === params.id && x.framework_id === params.framework);
      if (!f || !t) {
        root.querySelector('#info').innerHTML = '<span class="error">No such task (it may have been pruned from the completed tasks).</span>';
        return;
      }
      const agent = findAgent(state, t.slave_id);
      if (agent && !sandbox) await findSandbox(agent, t);
      root.querySelector('#info').innerHTML = '<h3>Task</h3>' + kv([
        ['ID', esc(t.id)],
        ['Name', esc(t.name)],
        ['State', `<span class="state-${esc(t.state)}" data-figure="task-state">${esc(stateName(t.state))}</span>`],
        ['Framework', link(`/frameworks/${seg(f.id)}`, f.name)],
        ['Agent', agent ? link(`/agents/${seg(agent.id)}`, agent.hostname) : esc(t.slave_id)],
        ['Executor', esc(t.executor_id || '(command executor)')],
        ['Resources', esc(`${num(scalar(t.resources, 'cpus'))} CPUs, ${mb(scalar(t.resources, 'mem'))}, ${mb(scalar(t.resources, 'disk'))} disk`)],
        ['Sandbox', sandbox && agent ? sandboxLink(agent.id, sandbox, 'Browse the sandbox') : '<span class="muted">unknown</span>'],
      ]);
      root.querySelector('#statuses tbody').innerHTML = (t.statuses ?? []).map((s) => `<tr>
        <td class="state-${esc(s.state)}">${esc(stateName(s.state))}</td>
        <td>${esc(time(s.timestamp))}</td>
        <td>${esc(s.source ?? '')}</td>
        <td data-reason>${esc(s.reason ?? '')}</td>
        <td class="wrap">${esc(s.message ?? '')}</td></tr>`).join('') ||
        '<tr><td colspan="5" class="muted">No status updates yet.</td></tr>';
    },
    destroy() {},
  };
}
