// The master's log (written when it runs with --log_dir), read from its
// /files/read?path=/master/log and followed as it grows. URL: #/log

import { link } from '../format.js';
import { pailerHtml, openPailer } from '../pailer.js';

const PATH = '/master/log';

async function read(offset, length) {
  const q = `path=${encodeURIComponent(PATH)}&offset=${offset}` + (length === undefined ? '' : `&length=${length}`);
  const response = await fetch(`/files/read?${q}`, { cache: 'no-store' });
  if (response.status === 404) throw new Error('this master keeps no log file (start it with --log_dir to have one)');
  if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
  return response.json();
}

export function mount(root) {
  root.innerHTML = `<div class="breadcrumb">${link('/', 'Cluster')} › master log</div>
    <h1>Master log</h1>
    <p id="log-error" class="error" hidden></p>
    ${pailerHtml()}`;
  const error = root.querySelector('#log-error');
  const viewer = openPailer(root, {
    name: PATH,
    read,
    download: `/files/download?path=${encodeURIComponent(PATH)}`,
    onError: (text) => {
      error.hidden = !text;
      error.textContent = text ?? '';
    },
  });
  return {
    update() {},
    destroy() {
      viewer.destroy();
    },
  };
}
