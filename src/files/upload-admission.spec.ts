import { UploadAdmission, type UploadTicket } from './upload-admission';

const MB = 1024 * 1024;

describe('UploadAdmission', () => {
  const admission = () =>
    new UploadAdmission({ maxUploads: 4, maxPerOwner: 2, maxBytes: 100 * MB, maxUploadBytes: 80 * MB });
  const ticket = (t: UploadTicket | { refused: string }) => {
    if ('refused' in t) throw new Error(t.refused);
    return t;
  };

  it('admits many small uploads side by side, up to the slots', () => {
    const a = admission();
    const held = ['a', 'a', 'b', 'b'].map((owner) => ticket(a.admit(owner, 1000)));
    expect(a.admit('c', 1000)).toEqual({ refused: expect.stringMatching(/Too many uploads in progress \(4\)/) });
    held[0].release();
    held[0].release(); // twice is once
    expect('release' in a.admit('c', 1000)).toBe(true);
    expect(a.admit('d', 1000)).toMatchObject({ refused: expect.any(String) });
  });

  it('keeps one owner from taking every slot', () => {
    const a = admission();
    ticket(a.admit('a', 10));
    ticket(a.admit('a', 10));
    expect(a.admit('a', 10)).toEqual({ refused: expect.stringMatching(/for this owner \(2\)/) });
    expect('release' in a.admit('b', 10)).toBe(true);
  });

  it('bounds the bytes declared in flight; an upload without a length counts as the largest; one alone always fits', () => {
    const a = admission();
    const big = ticket(a.admit('a', 70 * MB));
    expect(a.admit('b', 40 * MB)).toEqual({ refused: expect.stringMatching(/too many bytes/) });
    expect('release' in a.admit('b', 20 * MB)).toBe(true);
    big.release();
    const c = new UploadAdmission({ maxUploads: 4, maxPerOwner: 4, maxBytes: 100 * MB, maxUploadBytes: 80 * MB });
    ticket(c.admit('a', undefined)); // counts 80 MB
    expect(c.admit('a', 30 * MB)).toMatchObject({ refused: expect.stringMatching(/bytes/) });
    const d = new UploadAdmission({ maxUploads: 4, maxPerOwner: 4, maxBytes: 10 * MB, maxUploadBytes: 80 * MB });
    expect('release' in d.admit('a', 50 * MB)).toBe(true);
  });
});
