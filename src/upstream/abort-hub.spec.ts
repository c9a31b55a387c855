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
    const second = listenAbort(ac.signal, b);
    listenAbort(ac.signal, c);
    unlistenAbort(second);
    unlistenAbort(second);
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
    expect(() =>
      callEach([
        () => {
          calls.push('a');
          throw new Error('boom');
        },
        () => calls.push('b'),
      ]),
    ).toThrow('boom');
    expect(calls).toEqual(['a', 'b']);
  });

  it('unlinks callbacks from anywhere in the list, and a removed or called one holds nothing', () => {
    const ac = new AbortController();
    const calls: number[] = [];
    const listeners = [0, 1, 2, 3, 4].map((i) => listenAbort(ac.signal, () => calls.push(i)));
    unlistenAbort(listeners[4]); // the newest (the list's head)
    unlistenAbort(listeners[0]); // the oldest (its tail)
    unlistenAbort(listeners[2]); // one in the middle
    expect(listeners[2]).toEqual({ fn: undefined, prev: undefined, next: undefined, list: undefined });
    ac.abort();
    expect(calls).toEqual([1, 3]);
    for (const l of listeners) expect(l.fn).toBeUndefined();
    unlistenAbort(listeners[1]); // after the abort: nothing left to unlink
  });
});
