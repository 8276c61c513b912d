// RecordIO, the framing of the v1 API's streams: each record is its length in bytes as
// decimal digits, a newline, then that many bytes (here UTF-8 JSON). Bytes arrive in
// chunks cut anywhere (inside the length, inside a multi-byte character); the parser
// keeps what it has not framed yet and hands out whole records only.

/** Longest length header accepted (digits); more means the stream is not RecordIO. */
const MAX_HEADER_DIGITS = 12;

export class RecordIOParser {
  constructor({ maxRecordBytes = 256 * 1024 * 1024 } = {}) {
    this.maxRecordBytes = maxRecordBytes;
    this.chunks = [];
    this.buffered = 0;
    this.expect = null; // the current record's length, once its header is read
    this.decoder = new TextDecoder();
  }

  /** Adds a chunk (Uint8Array); returns the records (strings) it completes, in order. */
  push(chunk) {
    if (chunk?.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const records = [];
    for (;;) {
      if (this.expect === null) {
        const newline = this.indexOfNewline();
        if (newline < 0) {
          if (this.buffered > MAX_HEADER_DIGITS) throw new Error('RecordIO: no record length in the stream');
          return records;
        }
        const header = this.decoder.decode(this.take(newline + 1)).trim();
        if (!/^\d+$/.test(header)) throw new Error(`RecordIO: bad record length ${JSON.stringify(header)}`);
        this.expect = Number(header);
        if (this.expect > this.maxRecordBytes) throw new Error(`RecordIO: record of ${this.expect} bytes is too large`);
      }
      if (this.buffered < this.expect) return records;
      records.push(this.decoder.decode(this.take(this.expect)));
      this.expect = null;
    }
  }

  /** Position of the first '\n' in the buffered bytes, or -1 (looks at the header only). */
  indexOfNewline() {
    let at = 0;
    for (const c of this.chunks) {
      const i = c.indexOf(10);
      if (i >= 0) return at + i;
      at += c.length;
      if (at > MAX_HEADER_DIGITS) break;
    }
    return -1;
  }

  /** Removes and returns the first `n` buffered bytes as one array. */
  take(n) {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const part = Math.min(c.length, n - filled);
      out.set(c.subarray(0, part), filled);
      filled += part;
      if (part === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(part);
    }
    this.buffered -= n;
    return out;
  }
}
