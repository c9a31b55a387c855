import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Temporal CLI version that builds with `go install` (later ones carry a replace directive). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/** Whether `path` is a file this process may execute. */
export const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function goBin(): string | undefined {
  try {
    const gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim();
    return gopath ? join(gopath, 'bin') : undefined;
  } catch {
    // No Go toolchain: the caller reports what to do.
    return undefined;
  }
}

/** Finds the CLI: TEMPORAL_CLI_PATH, `temporal` on PATH, then $(go env GOPATH)/bin; undefined when none. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI_PATH) {
    if (isExecutable(env.TEMPORAL_CLI_PATH)) return env.TEMPORAL_CLI_PATH;
    throw new Error(`TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} is not an executable file`);
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    if (isExecutable(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  const bin = goBin();
  if (bin && isExecutable(join(bin, 'temporal'))) return join(bin, 'temporal');
  return undefined;
}

/** Finds the CLI or builds it with `go install` (minutes the first time); throws with advice when it cannot. */
export function ensureTemporalCli(log: (line: string) => void = console.log): string {
  const found = findTemporalCli();
  if (found) return found;
  const bin = goBin();
  if (!bin) {
    throw new Error(
      'No Temporal CLI found and no Go toolchain to build it: install Go (https://go.dev/dl) and run npm install again, ' +
        'or set TEMPORAL_CLI_PATH to a temporal binary, or set TEMPORAL_ADDRESS to an existing Temporal server.',
    );
  }
  log(`Building the Temporal CLI (go install ${TEMPORAL_CLI_MODULE}); the first build takes several minutes...`);
  const started = Date.now();
  const result = spawnSync('go', ['install', TEMPORAL_CLI_MODULE], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${result.status})`);
  const path = join(bin, 'temporal');
  log(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)} s: ${path}`);
  return path;
}
