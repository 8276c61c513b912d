// An executor's sandbox on its agent: a directory listing (/files/browse) and a file
// viewer that shows the end of a file and follows it as it grows (the pailer), reading
// the agent's /files/read in chunks; every file has a download link (/files/download).
// URL: #/agents/<agent id>/browse?sandbox=<executor directory>&path=<directory>[&file=<file path>]

import { esc, bytes, time, link, seg, findAgent } from '../format.js';
import { browse, read, downloadUrl } from '../agent_api.js';
import { pailerHtml, openPailer } from '../pailer.js';

/** The page's URL for a directory (and maybe a file in it) under the sandbox `root`. */
function browseUrl(agentId, root, path, file) {
  return `/agents/${seg(agentId)}/browse?sandbox=${encodeURIComponent(root)}&path=${encodeURIComponent(path)}` +
    (file ? `&file=${encodeURIComponent(file)}` : '');
}

/** The breadcrumb of a directory from the sandbox's root down, each step a link. */
function crumbs(agentId, root, path) {
  const rel = path.startsWith(root) ? path.slice(root.length) : '';
  const parts = rel.split('/').filter(Boolean);
  return [link(browseUrl(agentId, root, root), 'sandbox'),
    ...parts.map((p, i) => link(browseUrl(agentId, root, `${root}/${parts.slice(0, i + 1).join('/')}`), p))].join(' / ');
}

export function mount(root, { params, query }) {
  const dir = query.get('path') ?? '';
  const top = (query.get('sandbox') ?? dir).replace(/\/+$/, '');
  const file = query.get('file');
  root.innerHTML = `<div class="breadcrumb">${link('/agents', 'Agents')} › ${link(`/agents/${seg(params.id)}`, params.id)} › sandbox</div>
    <h1>Sandbox</h1>
    <p class="muted" id="crumbs"></p>
    <p id="sandbox-error" class="error" hidden></p>
    <table id="listing"><thead><tr><th>Mode</th><th>Name</th><th class="num">Size</th><th>Modified</th><th></th></tr></thead><tbody></tbody></table>
    ${pailerHtml()}`;
  const error = root.querySelector('#sandbox-error');
  const showError = (text) => {
    error.hidden = !text;
    error.textContent = text ?? '';
  };
  let agent = null;
  let started = false;
  let viewer = null;

  async function list() {
    root.querySelector('#crumbs').innerHTML = crumbs(params.id, top, dir);
    try {
      const entries = await browse(agent, dir);
      root.querySelector('#listing tbody').innerHTML = entries.map((e) => {
        const name = e.path.split('/').pop();
        const isDir = e.mode.startsWith('d');
        const target = isDir ? browseUrl(params.id, top, e.path) : browseUrl(params.id, top, dir, e.path);
        return `<tr><td><code>${esc(e.mode)}</code></td>
          <td>${link(target, name + (isDir ? '/' : ''), `data-entry="${esc(name)}"`)}</td>
          <td class="num">${esc(bytes(e.size))}</td><td>${esc(time(e.mtime))}</td>
          <td>${isDir ? '' : `<a href="${esc(downloadUrl(agent, e.path))}" download>download</a>`}</td></tr>`;
      }).join('') || '<tr><td colspan="5" class="muted">Empty directory.</td></tr>';
    } catch (e) {
      showError(`Cannot browse ${dir} on the agent: ${e.message}`);
    }
  }

  return {
    update({ state }) {
      if (started) return;
      agent = findAgent(state, params.id);
      if (!agent) {
        showError(`No agent ${params.id} is registered.`);
        return;
      }
      started = true;
      list();
      if (file) {
        viewer = openPailer(root, {
          name: file.split('/').pop(),
          read: (offset, length) => read(agent, file, offset, length),
          download: downloadUrl(agent, file),
          onError: showError,
        });
      }
    },
    destroy() {
      viewer?.destroy();
    },
  };
}
