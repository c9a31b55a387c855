/** Bytes a block starts with; a line longer than what is left starts a block of its own size. */
const BLOCK_BYTES = 64 * 1024;
/** The most UTF-8 bytes one UTF-16 code unit of a JS string takes. */
const MAX_BYTES_PER_UNIT = 3;

/**
 * Result lines as UTF-8 bytes, written into a few large blocks rather than a Buffer per line. Lines wait here up to a
 * checkpoint interval: long enough for a per-line Buffer object to be copied by every young-generation collection
 * meanwhile and then promoted. Written into blocks, a line leaves nothing on the V8 heap at all.
 */
export class LineBuffer {
  private blocks: Buffer[] = [];
  private block: Buffer | undefined;
  private used = 0;
  /** Bytes held. */
  bytes = 0;
  /** Lines held. */
  lines = 0;

  /** Appends `text` as UTF-8; returns its length in bytes. */
  push(text: string): number {
    const room = text.length * MAX_BYTES_PER_UNIT;
    if (!this.block || this.block.length - this.used < room) {
      this.close();
      this.block = Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, room));
      this.used = 0;
    }
    const written = this.block.write(text, this.used, 'utf8');
    this.used += written;
    this.bytes += written;
    this.lines++;
    return written;
  }

  /** Everything held, as one Buffer (no copy for a single block), and empties the buffer. */
  take(): Buffer {
    this.close();
    const blocks = this.blocks;
    const bytes = this.bytes;
    this.blocks = [];
    this.bytes = 0;
    this.lines = 0;
    return blocks.length === 1 ? blocks[0] : Buffer.concat(blocks, bytes);
  }

  /** Moves the current block's used part to the list. */
  private close(): void {
    if (this.block && this.used > 0) this.blocks.push(this.block.subarray(0, this.used));
    this.block = undefined;
    this.used = 0;
  }
}
