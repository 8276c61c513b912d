// The agents' own public endpoints, read by the browser directly (the agent answers them
// with Access-Control-Allow-Origin: *): /state, /files/browse, /files/read,
// /files/download and /monitor/statistics. An agent is addressed by its PID
// ('slave(1)@10.0.0.5:5051'), as Mesos's UI does.

/** Base URL ('http://10.0.0.5:5051') and process id ('slave(1)') of an agent. */
export function agentAddress(agent) {
  const pid = String(agent?.pid ?? '');
  const at = pid.indexOf('@');
  const id = at > 0 ? pid.slice(0, at) : 'slave(1)';
  const hostPort = at > 0 ? pid.slice(at + 1) : `${agent?.hostname}:${agent?.port}`;
  return { base: `${location.protocol}//${hostPort}`, id };
}

async function json(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) {
    throw new Error(`${response.status} ${(await response.text()).trim()}`);
  }
  return response.json();
}

/** The agent's /state (its frameworks, executors with sandbox directories, tasks). */
export function agentState(agent) {
  const { base, id } = agentAddress(agent);
  return json(`${base}/${id}/state`);
}

/** The agent's /monitor/statistics (one entry per live executor). */
export function monitorStatistics(agent) {
  const { base } = agentAddress(agent);
  return json(`${base}/monitor/statistics`);
}

/** Entries of a sandbox directory. */
export function browse(agent, path) {
  const { base } = agentAddress(agent);
  return json(`${base}/files/browse?path=${encodeURIComponent(path)}`);
}

/** { data, offset } of a file; offset -1 asks only for the file's size. */
export function read(agent, path, offset, length) {
  const { base } = agentAddress(agent);
  const q = `path=${encodeURIComponent(path)}&offset=${offset}` + (length === undefined ? '' : `&length=${length}`);
  return json(`${base}/files/read?${q}`);
}

/** A URL that downloads a file. */
export function downloadUrl(agent, path) {
  const { base } = agentAddress(agent);
  return `${base}/files/download?path=${encodeURIComponent(path)}`;
}
