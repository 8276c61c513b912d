// Roles: weights, quotas (guarantee, limit, consumed), allocation and reservations, from /roles.

import { esc, num, mb, scalar } from '../format.js';
import { PagedTable } from '../table.js';

const short = (r) => `${num(scalar(r, 'cpus'))} CPUs, ${mb(scalar(r, 'mem'))}`;

export function mount(root) {
  root.innerHTML = '<h1>Roles</h1><div id="roles"></div>';
  const table = new PagedTable(root.querySelector('#roles'), [
    { title: 'Role', value: (r) => r.name },
    { title: 'Weight', value: (r) => r.weight ?? 1, num: true },
    { title: 'Frameworks', value: (r) => (r.frameworks ?? []).length, num: true },
    { title: 'Allocated', value: (r) => scalar(r.allocated, 'cpus'), html: (r) => esc(short(r.allocated)) },
    { title: 'Offered', value: (r) => scalar(r.offered, 'cpus'), html: (r) => esc(short(r.offered)) },
    { title: 'Reserved', value: (r) => scalar(r.reserved, 'cpus'), html: (r) => esc(short(r.reserved)) },
    { title: 'Quota guarantee', value: (r) => scalar(r.quota?.guarantee, 'cpus'), html: (r) => (r.quota ? esc(short(r.quota.guarantee)) : '—') },
    { title: 'Quota limit', value: (r) => scalar(r.quota?.limit, 'cpus'), html: (r) => (r.quota && Object.keys(r.quota.limit ?? {}).length ? esc(short(r.quota.limit)) : '—') },
    { title: 'Consumed', value: (r) => scalar(r.quota?.consumed, 'cpus'), html: (r) => (r.quota ? esc(short(r.quota.consumed)) : '—') },
  ], { name: 'roles', empty: 'No roles (the default role * is not listed).' });
  return {
    update({ roles }) {
      table.setRows(roles?.roles ?? []);
    },
    destroy() {},
  };
}
