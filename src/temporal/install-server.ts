import { ensureTemporalServer } from './real-server';

// `npm run temporal:install-server` (and CI): finds or builds the real Temporal server and temporal-sql-tool. Only the
// topology tests and `npm run temporal:server` need them, so `npm install` does not build them.
const binaries = ensureTemporalServer();
console.log(`Temporal server: ${binaries.server}\ntemporal-sql-tool: ${binaries.sqlTool}`);
