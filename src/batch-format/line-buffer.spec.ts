import { LineBuffer } from './line-buffer';

describe('LineBuffer', () => {
  it('gives back exactly the UTF-8 of the lines pushed, across blocks and multi-byte characters', () => {
    const buffer = new LineBuffer();
    const lines: string[] = [];
    // Lines of growing length and mixed scripts: several fill a 64 KiB block, one is larger than a block.
    for (let i = 0; i < 400; i++) lines.push(`{"i":${i},"t":"${'é€𝄞a'.repeat(i * 7)}"}\n`);
    lines.push(`${'x'.repeat(200 * 1024)}\n`);
    let bytes = 0;
    for (const line of lines) bytes += buffer.push(line);
    expect(buffer.lines).toBe(lines.length);
    expect(buffer.bytes).toBe(bytes);
    const taken = buffer.take();
    expect(taken.length).toBe(Buffer.byteLength(lines.join('')));
    expect(taken.toString('utf8')).toBe(lines.join(''));
  });

  it('is empty after take, and the next lines come out alone', () => {
    const buffer = new LineBuffer();
    buffer.push('first\n');
    expect(buffer.take().toString()).toBe('first\n');
    expect(buffer.bytes).toBe(0);
    expect(buffer.lines).toBe(0);
    buffer.push('second\n');
    expect(buffer.take().toString()).toBe('second\n');
  });

  it('does not change bytes already taken when more lines are pushed', () => {
    const buffer = new LineBuffer();
    buffer.push('a\n');
    const taken = buffer.take();
    for (let i = 0; i < 1000; i++) buffer.push('b\n');
    expect(taken.toString()).toBe('a\n');
  });
});
