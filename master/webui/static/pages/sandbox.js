// An executor's sandbox on its agent: a directory listing (/files/browse) and a file
// viewer that shows the end of a file and follows it as it grows (Mesos's "pailer"),
// reading /files/read in chunks; every file has a download link (/files/download).
// URL: #/agents/<agent id>/browse?sandbox=<executor directory>&path=<directory>[&file=<file path>]

import { esc, bytes, time, link, seg, findAgent } from '../format.js';
import { browse, read, downloadUrl } from '../agent_api.js';

/** How much of the end of a file is shown when it is opened. */
const TAIL_BYTES = 64 * 1024;
/** Largest chunk asked for at once (the agent caps it too). */
const CHUNK_BYTES = 64 * 1024;
/** How much text the viewer keeps (older text is dropped from the top). */
const KEEP_BYTES = 1024 * 1024;
/** Time between reads while following. */
const FOLLOW_MS = 1000;

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
    <section id="viewer" hidden>
      <h2 id="file-name"></h2>
      <div class="table-tools">
        <label><input type="checkbox" id="follow" checked> Follow</label>
        <span id="file-size"></span>
        <a id="download" href="#">Download</a>
      </div>
      <pre class="file" id="file-content" data-size="0"></pre>
    </section>`;
  const error = root.querySelector('#sandbox-error');
  const showError = (text) => {
    error.hidden = !text;
    error.textContent = text ?? '';
  };
  let agent = null;
  let started = false;
  let stopped = false;
  let timer = null;
  let offset = 0;

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

  const pre = root.querySelector('#file-content');
  function append(text) {
    if (!text) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let content = pre.textContent + text;
    if (content.length > KEEP_BYTES) content = content.slice(content.length - KEEP_BYTES);
    pre.textContent = content;
    if (root.querySelector('#follow').checked || atBottom) pre.scrollTop = pre.scrollHeight;
  }

  /** Reads everything from `offset` to the current end, chunk by chunk. */
  async function readMore() {
    for (;;) {
      const chunk = await read(agent, file, offset, CHUNK_BYTES);
      if (stopped) return;
      const data = chunk.data ?? '';
      offset = chunk.offset + new TextEncoder().encode(data).length;
      append(data);
      pre.dataset.size = String(offset);
      root.querySelector('#file-size').textContent = bytes(offset);
      if (data.length === 0 || new TextEncoder().encode(data).length < CHUNK_BYTES) return;
    }
  }

  async function follow() {
    if (stopped) return;
    try {
      if (root.querySelector('#follow').checked) await readMore();
      showError('');
    } catch (e) {
      showError(`Cannot read ${file}: ${e.message}`);
    }
    if (!stopped) timer = setTimeout(follow, FOLLOW_MS);
  }

  async function openFile() {
    root.querySelector('#viewer').hidden = false;
    root.querySelector('#file-name').textContent = file.split('/').pop();
    root.querySelector('#download').href = downloadUrl(agent, file);
    try {
      const end = await read(agent, file, -1);
      offset = Math.max(0, end.offset - TAIL_BYTES);
      await readMore();
    } catch (e) {
      showError(`Cannot read ${file}: ${e.message}`);
    }
    timer = setTimeout(follow, FOLLOW_MS);
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
      if (file) openFile();
    },
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
