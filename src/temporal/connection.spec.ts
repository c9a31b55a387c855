import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/config';
import { connectionOptions } from './connection';

describe('Temporal connection options', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
    for (const f of ['cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, f), `-----${f}-----`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const options = (env: Record<string, string>) =>
    connectionOptions(loadConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233', ...env }));

  it('connects in plain text by default', () => {
    expect(options({})).toEqual({ address: 'temporal.example:7233' });
  });

  it('turns TLS on for an API key (Temporal Cloud) and sends the key', () => {
    expect(options({ TEMPORAL_API_KEY: 'secret' })).toEqual({
      address: 'temporal.example:7233',
      tls: true,
      apiKey: 'secret',
    });
  });

  it('reads a client certificate pair, a CA and a server name for mutual TLS', () => {
    const tls = options({
      TEMPORAL_TLS_CERT_PATH: join(dir, 'cert.pem'),
      TEMPORAL_TLS_KEY_PATH: join(dir, 'key.pem'),
      TEMPORAL_TLS_CA_PATH: join(dir, 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'frontend.internal',
    }).tls as {
      clientCertPair: { crt: Buffer; key: Buffer };
      serverRootCACertificate: Buffer;
      serverNameOverride: string;
    };
    expect(tls.clientCertPair.crt.toString()).toBe('-----cert.pem-----');
    expect(tls.clientCertPair.key.toString()).toBe('-----key.pem-----');
    expect(tls.serverRootCACertificate.toString()).toBe('-----ca.pem-----');
    expect(tls.serverNameOverride).toBe('frontend.internal');
  });

  it('TEMPORAL_TLS decides when set; an unreadable file names its variable', () => {
    expect(options({ TEMPORAL_TLS: 'true' }).tls).toBe(true);
    expect(options({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }).tls).toBeUndefined();
    expect(() => options({ TEMPORAL_TLS_CA_PATH: join(dir, 'missing.pem') })).toThrow(
      /TEMPORAL_TLS_CA_PATH=.*cannot be read/,
    );
    expect(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: join(dir, 'cert.pem') })).toThrow(/set both/);
  });
});
