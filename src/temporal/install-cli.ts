import { ensureTemporalCli } from './temporal-cli';

// Run by `npm install` (postinstall): finds or builds the Temporal CLI. A missing CLI is not fatal for an
// install that will point TEMPORAL_ADDRESS at an existing server, so this warns instead of failing.
try {
  const path = ensureTemporalCli();
  console.log(`Temporal CLI: ${path}`);
} catch (err) {
  console.warn(`warning: ${(err as Error).message}`);
}
