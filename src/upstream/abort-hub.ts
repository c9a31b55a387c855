/**
 * A callback waiting on a signal: a link in that signal's list. {@link unlistenAbort} unlinks it and clears it, so a
 * link that outlived its request (a young-generation collection promoted it) holds on to nothing.
 */
export interface AbortListener {
  fn: (() => void) | undefined;
  prev: AbortListener | undefined;
  next: AbortListener | undefined;
  list: ListenerList | undefined;
}

/** The callbacks waiting on one signal, newest first. */
interface ListenerList {
  head: AbortListener | undefined;
}

/** Each signal's list, behind the one listener each signal gets. */
const lists = new WeakMap<AbortSignal, ListenerList>();

/**
 * Calls `fn` once when `signal` aborts, until {@link unlistenAbort} removes it. Every request of a chunk waits on the
 * chunk's signal, and `addEventListener`/`removeEventListener` on an AbortSignal cost a few microseconds each
 * (2-3% of a busy worker's time in a B1 profile): a signal gets one listener here, and the callbacks are linked in a
 * list. A list rather than a Set: a Set that takes and deletes an entry per request rebuilds its table every few
 * requests, and V8 keeps every replaced table that was promoted, with the entries it held, until the next full
 * collection (each points to its successor), so finished requests survived young-generation collections. As with
 * `addEventListener`, nothing is called for a signal that has already aborted: callers check `aborted` first.
 */
export function listenAbort(signal: AbortSignal, fn: () => void): AbortListener {
  let list = lists.get(signal);
  if (!list) {
    const created: ListenerList = { head: undefined };
    lists.set(signal, (list = created));
    signal.addEventListener('abort', () => callEach(takeAll(created)), { once: true });
  }
  const listener: AbortListener = { fn, prev: undefined, next: list.head, list };
  if (list.head) list.head.prev = listener;
  list.head = listener;
  return listener;
}

/** Removes a callback added with {@link listenAbort} (nothing if it was removed or called already). */
export function unlistenAbort(listener: AbortListener): void {
  const list = listener.list;
  if (!list) return;
  if (listener.prev) listener.prev.next = listener.next;
  else list.head = listener.next;
  if (listener.next) listener.next.prev = listener.prev;
  clear(listener);
}

/** Empties `list`, oldest callback first. */
function takeAll(list: ListenerList): (() => void)[] {
  const all: (() => void)[] = [];
  let listener = list.head;
  list.head = undefined;
  while (listener) {
    const next = listener.next;
    all.push(listener.fn!);
    clear(listener);
    listener = next;
  }
  return all.reverse();
}

function clear(listener: AbortListener): void {
  listener.fn = undefined;
  listener.prev = undefined;
  listener.next = undefined;
  listener.list = undefined;
}

/** Calls each callback, whatever the others do (as separate listeners would be); the first error is thrown once all have run. */
export function callEach(callbacks: (() => void)[]): void {
  let failure: { error: unknown } | undefined;
  for (const f of callbacks) {
    try {
      f();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
