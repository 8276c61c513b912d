// A sortable, filterable, paged table: only one page of rows is ever in the DOM, so
// thousands of agents or tasks stay fast. The component keeps its page, sort and filter
// across data updates (`setRows`).

import { esc } from './format.js';

/**
 * columns: [{ title, value: row => sortable value, html?: row => cell HTML, num?: bool }]
 * options: { pageSize = 50, empty = 'Nothing to show.', key: row => stable id, name }
 */
export class PagedTable {
  constructor(container, columns, { pageSize = 50, empty = 'Nothing to show.', name = 'table' } = {}) {
    this.container = container;
    this.columns = columns;
    this.pageSize = pageSize;
    this.empty = empty;
    this.rows = [];
    this.page = 0;
    this.sortColumn = -1;
    this.sortDescending = false;
    this.filter = '';
    this.container.innerHTML = `<div class="table-tools">
      <input type="search" placeholder="Filter" aria-label="Filter ${esc(name)}">
      <span class="count"></span>
      <button type="button" data-page="-1">‹ Prev</button>
      <span class="page"></span>
      <button type="button" data-page="1">Next ›</button>
    </div><table data-table="${esc(name)}"><thead></thead><tbody></tbody></table>`;
    this.input = this.container.querySelector('input');
    this.input.addEventListener('input', () => {
      this.filter = this.input.value.trim().toLowerCase();
      this.page = 0;
      this.render();
    });
    for (const b of this.container.querySelectorAll('button[data-page]')) {
      b.addEventListener('click', () => {
        this.page += Number(b.dataset.page);
        this.render();
      });
    }
    this.container.querySelector('thead').addEventListener('click', (event) => {
      const th = event.target.closest('th[data-col]');
      if (!th) return;
      const col = Number(th.dataset.col);
      this.sortDescending = this.sortColumn === col ? !this.sortDescending : false;
      this.sortColumn = col;
      this.render();
    });
  }

  setRows(rows) {
    this.rows = rows;
    this.render();
  }

  /** The rows after filtering and sorting. */
  visibleRows() {
    let rows = this.rows;
    if (this.filter) {
      rows = rows.filter((r) => this.columns.some((c) =>
        String(c.value(r) ?? '').toLowerCase().includes(this.filter)));
    }
    if (this.sortColumn >= 0) {
      const c = this.columns[this.sortColumn];
      const dir = this.sortDescending ? -1 : 1;
      rows = [...rows].sort((a, b) => {
        const x = c.value(a);
        const y = c.value(b);
        if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
        return String(x ?? '').localeCompare(String(y ?? '')) * dir;
      });
    }
    return rows;
  }

  render() {
    const rows = this.visibleRows();
    const pages = Math.max(1, Math.ceil(rows.length / this.pageSize));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const shown = rows.slice(this.page * this.pageSize, (this.page + 1) * this.pageSize);
    const arrow = (i) => (i === this.sortColumn ? (this.sortDescending ? ' ▾' : ' ▴') : '');
    this.container.querySelector('thead').innerHTML = `<tr>${this.columns.map((c, i) =>
      `<th class="sortable${c.num ? ' num' : ''}" data-col="${i}">${esc(c.title)}${arrow(i)}</th>`).join('')}</tr>`;
    this.container.querySelector('tbody').innerHTML = shown.length
      ? shown.map((r) => `<tr>${this.columns.map((c) =>
        `<td class="${c.num ? 'num' : ''}${c.wrap ? ' wrap' : ''}">${c.html ? c.html(r) : esc(c.value(r))}</td>`).join('')}</tr>`).join('')
      : `<tr><td class="muted" colspan="${this.columns.length}">${esc(this.empty)}</td></tr>`;
    this.container.querySelector('.count').textContent =
      rows.length === this.rows.length ? `${rows.length} rows` : `${rows.length} of ${this.rows.length} rows`;
    this.container.querySelector('.page').textContent = `page ${this.page + 1} of ${pages}`;
    const [prev, next] = this.container.querySelectorAll('button[data-page]');
    prev.disabled = this.page === 0;
    next.disabled = this.page >= pages - 1;
  }
}
