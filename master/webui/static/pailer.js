// A file viewer that shows the end of a file and follows it as it grows (Mesos's
// "pailer"), reading `/files/read`-style chunks ({ data, offset }; offset -1 asks for the
// size) through the `read` function it is given. Used by the sandbox page (a task's
// stdout/stderr on its agent) and the master's log page.

import { bytes } from './format.js';

/** How much of the end of a file is shown when it is opened. */
const TAIL_BYTES = 64 * 1024;
/** Largest chunk asked for at once (the server caps it too). */
const CHUNK_BYTES = 64 * 1024;
/** How much text the viewer keeps (older text is dropped from the top). */
const KEEP_BYTES = 1024 * 1024;
/** Time between reads while following. */
const FOLLOW_MS = 1000;

/** The viewer's markup (hidden until `openPailer`). */
export function pailerHtml() {
  return `<section id="viewer" hidden>
      <h2 id="file-name"></h2>
      <div class="table-tools">
        <label><input type="checkbox" id="follow" checked> Follow</label>
        <span id="file-size"></span>
        <a id="download" href="#">Download</a>
      </div>
      <pre class="file" id="file-content" data-size="0"></pre>
    </section>`;
}

/**
 * Opens the viewer inside `root` on a file: `name` to show, `read(offset, length)`,
 * `download` (a URL), `onError(text | null)`. Returns `{ destroy() }`, which stops following.
 */
export function openPailer(root, { name, read, download, onError }) {
  const pre = root.querySelector('#file-content');
  const follow = root.querySelector('#follow');
  let offset = 0;
  let stopped = false;
  let timer = null;
  root.querySelector('#viewer').hidden = false;
  root.querySelector('#file-name').textContent = name;
  root.querySelector('#download').href = download;

  function append(text) {
    if (!text) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let content = pre.textContent + text;
    if (content.length > KEEP_BYTES) content = content.slice(content.length - KEEP_BYTES);
    pre.textContent = content;
    if (follow.checked || atBottom) pre.scrollTop = pre.scrollHeight;
  }

  /** Reads everything from `offset` to the current end, chunk by chunk. */
  async function readMore() {
    for (;;) {
      const chunk = await read(offset, CHUNK_BYTES);
      if (stopped) return;
      const data = chunk.data ?? '';
      const size = new TextEncoder().encode(data).length;
      offset = chunk.offset + size;
      append(data);
      pre.dataset.size = String(offset);
      root.querySelector('#file-size').textContent = bytes(offset);
      if (size === 0 || size < CHUNK_BYTES) return;
    }
  }

  async function tick() {
    if (stopped) return;
    try {
      if (follow.checked) await readMore();
      onError(null);
    } catch (e) {
      onError(`Cannot read ${name}: ${e.message}`);
    }
    if (!stopped) timer = setTimeout(tick, FOLLOW_MS);
  }

  (async () => {
    try {
      const end = await read(-1);
      offset = Math.max(0, end.offset - TAIL_BYTES);
      await readMore();
    } catch (e) {
      onError(`Cannot read ${name}: ${e.message}`);
    }
    if (!stopped) timer = setTimeout(tick, FOLLOW_MS);
  })();

  return {
    destroy() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
