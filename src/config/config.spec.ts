import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 8000,
      HOST: '127.0.0.1',
      DATA_DIR: './data',
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

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['UPSTREAM_BASE_URL', 'not a url'],
    ['UPSTREAM_CONCURRENCY', '0'],
    ['API_KEYS', 'no-owner'],
    ['DATABASE_URL', 'mysql://x'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses a bad %s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}:`));
  });
});
