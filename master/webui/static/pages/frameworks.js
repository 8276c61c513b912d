// Frameworks: active, inactive (registered but disconnected or deactivated) and completed.

import { PagedTable } from '../table.js';
import { frameworkColumns } from '../columns.js';

export function mount(root) {
  root.innerHTML = `<h1>Frameworks</h1>
    <h2>Active</h2><div id="active"></div>
    <h2>Inactive</h2><div id="inactive"></div>
    <h2>Completed</h2><div id="completed"></div>`;
  const table = (id, empty) => new PagedTable(root.querySelector(`#${id}`), frameworkColumns(), { name: id, empty });
  const active = table('active', 'No active frameworks.');
  const inactive = table('inactive', 'No inactive frameworks.');
  const completed = table('completed', 'No completed frameworks.');
  return {
    update({ state }) {
      const live = state.frameworks ?? [];
      active.setRows(live.filter((f) => f.active));
      inactive.setRows(live.filter((f) => !f.active));
      completed.setRows(state.completed_frameworks ?? []);
    },
    destroy() {},
  };
}
