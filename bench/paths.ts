import { join } from 'node:path';

/** The compiled tree's root (dist/), from this file's place in dist/bench. */
const DIST = join(__dirname, '..');

/** Entry points of the compiled processes the bench spawns. */
export const ENTRY = {
  api: join(DIST, 'src', 'start-api.js'),
  worker: join(DIST, 'src', 'start-worker.js'),
  simulator: join(DIST, 'bench', 'sim-process.js'),
  bareFastify: join(DIST, 'bench', 'bare-fastify.js'),
};

/** Where results go: bench/results in the source tree, not under dist/. */
export const RESULTS_DIR = join(DIST, '..', 'bench', 'results');
