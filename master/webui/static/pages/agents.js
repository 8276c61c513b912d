// Agents: every registered agent, with its resources.

import { PagedTable } from '../table.js';
import { agentColumns } from '../columns.js';

export function mount(root) {
  root.innerHTML = '<h1>Agents</h1><div id="agents"></div>';
  const table = new PagedTable(root.querySelector('#agents'), agentColumns(), { name: 'agents', empty: 'No agents.' });
  return {
    update({ state }) {
      table.setRows(state.slaves ?? []);
    },
    destroy() {},
  };
}
