// JSON-RPC 2.0 messages in LSP's Content-Length framing (docs/editor-protocol.md, "Framing").
// Content-Length counts UTF-8 bytes, so the reader works on bytes, never on decoded strings.

export function encode(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, "ascii"), body]);
}

const SEPARATOR = Buffer.from("\r\n\r\n", "ascii");

/** Feeds bytes in, hands whole message bodies out (a frame without a length is skipped). */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onBody: (body: string) => void) {}

  feed(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      const end = this.pending.indexOf(SEPARATOR);
      if (end < 0) return;
      const header = this.pending.subarray(0, end).toString("ascii");
      const match = /content-length:\s*(\d+)/i.exec(header);
      const start = end + SEPARATOR.length;
      if (!match) {
        this.pending = this.pending.subarray(start);
        continue;
      }
      const length = Number(match[1]);
      if (this.pending.length < start + length) return;
      const body = this.pending.subarray(start, start + length).toString("utf8");
      this.pending = this.pending.subarray(start + length);
      this.onBody(body);
    }
  }
}
