// Column definitions shared by several pages' tables (tasks, frameworks, agents).

import { esc, num, mb, time, link, seg, scalar, stateName } from './format.js';

/** The last status's timestamp of a task (when it reached its state). */
export function lastUpdate(t) {
  const s = t.statuses ?? [];
  return s.length ? s[s.length - 1].timestamp : 0;
}

/** Columns of a task table. */
export function taskColumns({ agentOf = null } = {}) {
  const cols = [
    { title: 'ID', value: (t) => t.id, html: (t) => link(`/tasks/${seg(t.framework_id)}/${seg(t.id)}`, t.id) },
    { title: 'Name', value: (t) => t.name },
    { title: 'State', value: (t) => t.state, html: (t) => `<span class="state-${esc(t.state)}">${esc(stateName(t.state))}</span>` },
    { title: 'CPUs', value: (t) => scalar(t.resources, 'cpus'), html: (t) => num(scalar(t.resources, 'cpus')), num: true },
    { title: 'Mem', value: (t) => scalar(t.resources, 'mem'), html: (t) => mb(scalar(t.resources, 'mem')), num: true },
    { title: 'Updated', value: lastUpdate, html: (t) => esc(time(lastUpdate(t))) },
  ];
  if (agentOf) {
    cols.push({
      title: 'Agent',
      value: (t) => agentOf(t)?.hostname ?? t.slave_id,
      html: (t) => link(`/agents/${seg(t.slave_id)}`, agentOf(t)?.hostname ?? t.slave_id),
    });
  }
  return cols;
}

/** Columns of a framework table. */
export function frameworkColumns() {
  return [
    { title: 'ID', value: (f) => f.id, html: (f) => link(`/frameworks/${seg(f.id)}`, f.id) },
    { title: 'Name', value: (f) => f.name },
    { title: 'User', value: (f) => f.user },
    { title: 'Role', value: (f) => (f.roles ?? [f.role]).join(', ') },
    { title: 'Tasks', value: (f) => (f.tasks ?? []).length, num: true },
    { title: 'CPUs', value: (f) => scalar(f.used_resources, 'cpus'), html: (f) => num(scalar(f.used_resources, 'cpus')), num: true },
    { title: 'Mem', value: (f) => scalar(f.used_resources, 'mem'), html: (f) => mb(scalar(f.used_resources, 'mem')), num: true },
    { title: 'Registered', value: (f) => f.registered_time, html: (f) => esc(time(f.registered_time)) },
  ];
}

/** Columns of an agent table. */
export function agentColumns() {
  const pair = (a, k, fmt) => `${fmt(scalar(a.used_resources, k))} / ${fmt(scalar(a.resources, k))}`;
  return [
    { title: 'ID', value: (a) => a.id, html: (a) => link(`/agents/${seg(a.id)}`, a.id) },
    { title: 'Host', value: (a) => a.hostname },
    { title: 'Active', value: (a) => (a.active ? 'yes' : 'no') },
    { title: 'CPUs (used / total)', value: (a) => scalar(a.resources, 'cpus'), html: (a) => esc(pair(a, 'cpus', num)), num: true },
    { title: 'Mem (used / total)', value: (a) => scalar(a.resources, 'mem'), html: (a) => esc(pair(a, 'mem', mb)), num: true },
    { title: 'Disk', value: (a) => scalar(a.resources, 'disk'), html: (a) => esc(mb(scalar(a.resources, 'disk'))), num: true },
    { title: 'Registered', value: (a) => a.registered_time, html: (a) => esc(time(a.registered_time)) },
  ];
}
