// Offers: every outstanding offer, with its framework and agent.

import { mb, link, seg, scalar, findAgent } from '../format.js';
import { PagedTable } from '../table.js';

export function mount(root) {
  root.innerHTML = '<h1>Outstanding offers</h1><div id="offers"></div>';
  let state = null;
  const table = new PagedTable(root.querySelector('#offers'), [
    { title: 'ID', value: (o) => o.id },
    { title: 'Framework', value: (o) => o.framework_name, html: (o) => link(`/frameworks/${seg(o.framework_id)}`, o.framework_name) },
    { title: 'Agent', value: (o) => o.slave_id, html: (o) => link(`/agents/${seg(o.slave_id)}`, findAgent(state, o.slave_id)?.hostname ?? o.slave_id) },
    { title: 'CPUs', value: (o) => scalar(o.resources, 'cpus'), num: true },
    { title: 'Mem', value: (o) => scalar(o.resources, 'mem'), html: (o) => mb(scalar(o.resources, 'mem')), num: true },
    { title: 'Disk', value: (o) => scalar(o.resources, 'disk'), html: (o) => mb(scalar(o.resources, 'disk')), num: true },
  ], { name: 'offers', empty: 'No outstanding offers.' });
  return {
    update(snapshot) {
      state = snapshot.state;
      table.setRows((state.frameworks ?? []).flatMap((f) => (f.offers ?? []).map((o) => ({ ...o, framework_name: f.name }))));
    },
    destroy() {},
  };
}
