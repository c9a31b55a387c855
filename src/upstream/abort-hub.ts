/** Callbacks waiting on each signal, behind the one listener each signal gets. */
const hubs = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts, until {@link unlistenAbort} removes it. Every request of a chunk waits on the
 * chunk's signal, and `addEventListener`/`removeEventListener` on an AbortSignal cost a few microseconds each
 * (2-3% of a busy worker's time in a B1 profile): a signal gets one listener here, and the callbacks live in a Set. As with
 * `addEventListener`, nothing is called for a signal that has already aborted: callers check `aborted` first.
 */
export function listenAbort(signal: AbortSignal, fn: () => void): void {
  let set = hubs.get(signal);
  if (!set) {
    const callbacks = new Set<() => void>();
    hubs.set(signal, (set = callbacks));
    signal.addEventListener('abort', () => callEach(callbacks), { once: true });
  }
  set.add(fn);
}

/** Removes a callback added with {@link listenAbort}. */
export function unlistenAbort(signal: AbortSignal, fn: () => void): void {
  hubs.get(signal)?.delete(fn);
}

/**
 * Empties `callbacks` and calls each, whatever the others do (as separate listeners would be); the first error is
 * thrown once all have run.
 */
export function callEach(callbacks: Set<() => void>): void {
  const all = [...callbacks];
  callbacks.clear();
  let failure: { error: unknown } | undefined;
  for (const f of all) {
    try {
      f();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
