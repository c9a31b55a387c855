import { callEach, listenAbort, unlistenAbort } from './abort-hub';

describe('abort hub', () => {
  it('calls each callback still listening once when the signal aborts, through one listener', () => {
    const ac = new AbortController();
    const add = jest.spyOn(ac.signal, 'addEventListener');
    const calls: string[] = [];
    const a = () => calls.push('a');
    const b = () => calls.push('b');
    const c = () => calls.push('c');
    listenAbort(ac.signal, a);
    listenAbort(ac.signal, b);
    listenAbort(ac.signal, c);
    unlistenAbort(ac.signal, b);
    expect(add).toHaveBeenCalledTimes(1);
    ac.abort();
    ac.abort();
    expect(calls).toEqual(['a', 'c']);
  });

  it('keeps signals apart', () => {
    const one = new AbortController();
    const two = new AbortController();
    const calls: number[] = [];
    listenAbort(one.signal, () => calls.push(1));
    listenAbort(two.signal, () => calls.push(2));
    two.abort();
    expect(calls).toEqual([2]);
  });

  it('calls every callback even when one throws, then throws the first error', () => {
    const calls: string[] = [];
    const set = new Set<() => void>([
      () => {
        calls.push('a');
        throw new Error('boom');
      },
      () => calls.push('b'),
    ]);
    expect(() => callEach(set)).toThrow('boom');
    expect(calls).toEqual(['a', 'b']);
    expect(set.size).toBe(0);
  });
});
