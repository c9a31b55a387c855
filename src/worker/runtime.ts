import { setFlagsFromString } from 'node:v8';

/**
 * Caps how far the heap may grow past its live set before V8 collects it. A busy worker allocates fast (a parsed
 * request, its body text, the answer) but keeps little; left to itself V8 grows the heap to several times the
 * live set, which showed as 370-450 MB of resident memory under load where 30% growth keeps it under 300 MB.
 * V8 reads this flag at every full collection, so setting it now takes effect.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/**
 * Turns off V8's allocation-site pretenuring unless `enabled`. V8 watches which allocation sites make objects that
 * survive young-generation collections and, past a threshold, allocates their objects straight in the old
 * generation. A busy worker has many sites whose objects live for one request (its closures, undici's request, the
 * answer), and whether they cross the threshold depends on timing early in the process's life: once they do, every
 * request's objects are born old, and everything they point to survives young collections until the next full one.
 * On B1's batch that doubled the promoted bytes and the full collections (130 against 47 MB, 18 against 9), and cost
 * 72-78 µs of worker CPU a request against 57-61 µs; it happened to about half of the worker processes, for their
 * whole life. Off, none of ten processes did. Set before the worker's code runs hot; V8 reads the flag as it goes.
 */
export function limitPretenuring(enabled: boolean): void {
  if (!enabled) setFlagsFromString('--no-allocation-site-pretenuring');
}
