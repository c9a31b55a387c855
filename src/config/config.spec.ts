import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 8000,
      HOST: '127.0.0.1',
      DATA_DIR: './data',
      DATABASE_POOL_SIZE: 10,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'batches',
      UPSTREAM_BASE_URL: 'https://api.openai.com/v1',
      UPSTREAM_CONCURRENCY: 64,
      COMPLETION_WINDOW_SECONDS: 86400,
    });
    expect(config.API_KEYS).toBeUndefined();
    expect(config.TEMPORAL_ADDRESS).toBeUndefined();
  });

  it('parses API_KEYS into key -> owner', () => {
    expect(loadConfig({ API_KEYS: 'k1:team-a, k2:team-b' }).API_KEYS).toEqual(
      new Map([
        ['k1', 'team-a'],
        ['k2', 'team-b'],
      ]),
    );
  });

  it('refuses an owner name over 128 characters (it is stored and put in a search attribute)', () => {
    expect(() => loadConfig({ API_KEYS: `k1:${'o'.repeat(129)}` })).toThrow(/API_KEYS: .*at most 128/);
    expect(loadConfig({ API_KEYS: `k1:${'o'.repeat(128)}` }).API_KEYS?.get('k1')).toHaveLength(128);
  });

  it('refuses a non-loopback HOST without keys unless told otherwise explicitly', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/HOST: 0\.0\.0\.0 is not loopback/);
    expect(loadConfig({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: 'true' }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0', API_KEYS: 'k:o' }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '127.0.0.2' }).HOST).toBe('127.0.0.2');
  });

  it('reads API_KEYS_FILE and merges it with API_KEYS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, '# team keys\nsk-a:team-a\n\nsk-b : team-b\n');
    expect([...loadConfig({ API_KEYS_FILE: file, API_KEYS: 'sk-c:team-c' }).API_KEYS!]).toEqual([
      ['sk-a', 'team-a'],
      ['sk-b', 'team-b'],
      ['sk-c', 'team-c'],
    ]);
    writeFileSync(file, 'no-owner\n');
    expect(() => loadConfig({ API_KEYS_FILE: file })).toThrow(/API_KEYS_FILE: line 1/);
    expect(() => loadConfig({ API_KEYS_FILE: join(dir, 'missing') })).toThrow(/API_KEYS_FILE/);
  });

  it('requires WEBHOOK_SECRET when WEBHOOK_URL is set', () => {
    const url = 'https://hooks.example.com/batches';
    expect(() => loadConfig({ WEBHOOK_URL: url })).toThrow(ConfigError);
    expect(() => loadConfig({ WEBHOOK_URL: url })).toThrow(
      /^Invalid configuration:\n {2}WEBHOOK_SECRET: required when WEBHOOK_URL is set/,
    );
    expect(() => loadConfig({ WEBHOOK_URL: url, WEBHOOK_SECRET: 'short' })).toThrow(/WEBHOOK_SECRET: use at least 16/);
    const config = loadConfig({ WEBHOOK_URL: url, WEBHOOK_SECRET: 'a-secret-of-16-chars' });
    expect(config).toMatchObject({
      WEBHOOK_URL: url,
      WEBHOOK_TIMEOUT_MS: 10000,
      WEBHOOK_RETRY_INITIAL_MS: 1000,
      WEBHOOK_RETRY_MAX_MS: 3600000,
    });
    expect(loadConfig({}).WEBHOOK_URL).toBeUndefined();
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['UPSTREAM_BASE_URL', 'not a url'],
    ['UPSTREAM_CONCURRENCY', '0'],
    ['API_KEYS', 'no-owner'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_POOL_SIZE', '0'],
    ['LOG_LEVEL', 'loud'],
    ['WEBHOOK_URL', 'ftp://hooks.example.com/'],
    ['WEBHOOK_TIMEOUT_MS', '0'],
  ])('refuses a bad %s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}:`));
  });
});
