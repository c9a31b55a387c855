import { createHash } from 'node:crypto';
import { HeaderDigests } from './api-keys';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('HeaderDigests', () => {
  it("gives each header's SHA-256, the same on every call", () => {
    const digests = new HeaderDigests();
    expect(digests.of('Bearer a')).toBe(sha256('Bearer a'));
    expect(digests.of('Bearer b')).toBe(sha256('Bearer b'));
    expect(digests.of('Bearer a')).toBe(sha256('Bearer a'));
    expect(digests.size).toBe(2);
  });

  it('remembers at most its capacity, and stays right past it', () => {
    const digests = new HeaderDigests(8);
    for (let i = 0; i < 100; i++) {
      expect(digests.of(`Bearer k${i}`)).toBe(sha256(`Bearer k${i}`));
      expect(digests.size).toBeLessThanOrEqual(8);
    }
    expect(digests.of('Bearer k3')).toBe(sha256('Bearer k3'));
  });
});
