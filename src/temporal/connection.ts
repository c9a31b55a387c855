import { Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import type { AppConfig } from '../config/config';

/** The Temporal settings a connection is made from. */
export type TemporalSettings = Pick<
  AppConfig,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_CERT_PATH'
  | 'TEMPORAL_TLS_KEY_PATH'
  | 'TEMPORAL_TLS_CA_PATH'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_API_KEY'
>;

/** Temporal could not be reached: says where, what failed and what to check. */
export class TemporalUnreachableError extends Error {}

/** A file a TEMPORAL_TLS_* variable names, read now; an unreadable one is an error naming the variable. */
function readSetting(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TemporalUnreachableError(`${variable}=${path} cannot be read: ${(err as Error).message}`);
  }
}

/**
 * Address, TLS and API key for both connection kinds (the API's gRPC-js Connection and the worker's
 * NativeConnection). TLS is on with TEMPORAL_TLS=true, or as soon as a certificate, a CA or an API key is set
 * (Temporal Cloud needs TLS with either).
 */
export function connectionOptions(settings: TemporalSettings): {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
} {
  const address = settings.TEMPORAL_ADDRESS;
  if (!address) throw new TemporalUnreachableError('TEMPORAL_ADDRESS is not set');
  const certPair =
    settings.TEMPORAL_TLS_CERT_PATH && settings.TEMPORAL_TLS_KEY_PATH
      ? {
          crt: readSetting('TEMPORAL_TLS_CERT_PATH', settings.TEMPORAL_TLS_CERT_PATH),
          key: readSetting('TEMPORAL_TLS_KEY_PATH', settings.TEMPORAL_TLS_KEY_PATH),
        }
      : undefined;
  const ca = settings.TEMPORAL_TLS_CA_PATH
    ? readSetting('TEMPORAL_TLS_CA_PATH', settings.TEMPORAL_TLS_CA_PATH)
    : undefined;
  const wantsTls =
    settings.TEMPORAL_TLS === 'true' ||
    (settings.TEMPORAL_TLS !== 'false' && (certPair !== undefined || ca !== undefined || !!settings.TEMPORAL_API_KEY));
  const tls: TLSConfig | undefined = wantsTls
    ? {
        ...(certPair ? { clientCertPair: certPair } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(settings.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: settings.TEMPORAL_TLS_SERVER_NAME } : {}),
      }
    : undefined;
  return {
    address,
    ...(tls ? { tls: Object.keys(tls).length ? tls : true } : {}),
    ...(settings.TEMPORAL_API_KEY ? { apiKey: settings.TEMPORAL_API_KEY } : {}),
  };
}

/** The error a failed connection becomes: the address tried, the cause, and what to check. */
function unreachable(settings: TemporalSettings, err: unknown): TemporalUnreachableError {
  if (err instanceof TemporalUnreachableError) return err;
  const tlsOn = connectionOptionsSafe(settings)?.tls !== undefined;
  const hints = [
    'that a Temporal frontend listens there (host:port, 7233 by default) and is reachable from this machine',
    tlsOn
      ? 'the TLS settings (TEMPORAL_TLS_CA_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS_CERT_PATH/_KEY_PATH) and TEMPORAL_API_KEY'
      : 'whether the server needs TLS (TEMPORAL_TLS=true, TEMPORAL_TLS_CERT_PATH/_KEY_PATH for mTLS) or an API key (TEMPORAL_API_KEY, Temporal Cloud)',
  ];
  return new TemporalUnreachableError(
    `Cannot connect to Temporal at ${settings.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS${tlsOn ? ', TLS on' : ', no TLS'}): ` +
      `${(err as Error).message}. Check ${hints.join(', and ')}.`,
    { cause: err },
  );
}

function connectionOptionsSafe(settings: TemporalSettings) {
  try {
    return connectionOptions(settings);
  } catch {
    return undefined;
  }
}

/** The API's client connection; a failure says where it tried and what to check. */
export async function connectClient(settings: TemporalSettings): Promise<Connection> {
  try {
    const connection = await Connection.connect(connectionOptions(settings));
    // Connect is lazy about some failures (a TLS or auth mismatch): one call proves the server answers.
    await connection.workflowService.getSystemInfo({});
    return connection;
  } catch (err) {
    throw unreachable(settings, err);
  }
}

/** The worker's native connection; a failure says where it tried and what to check. */
export async function connectNative(settings: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(connectionOptions(settings));
  } catch (err) {
    throw unreachable(settings, err);
  }
}

/**
 * The server version of the Temporal frontend answering at `address` now (a plain connection, no TLS), else
 * undefined: the readiness probe of the servers this repository starts, and its check of a port already taken.
 */
export async function frontendVersion(address: string, connectTimeoutMs = 1000): Promise<string | undefined> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: connectTimeoutMs });
    try {
      return (await connection.workflowService.getSystemInfo({})).serverVersion || 'unknown version';
    } finally {
      await connection.close();
    }
  } catch {
    return undefined;
  }
}
