import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../config/config';
import { loadTenants, parseTenants } from './tenants-file';

describe('the tenants file', () => {
  it('gives listed owners their own entry, other owners the default, and fills what is left out', () => {
    const tenants = parseTenants(
      [
        'tenants:',
        '  team-a: { max_active_batches: 20, max_enqueued_requests: 100000, max_enqueued_tokens: 50000000, weight: 1 }',
        '  team-b: { weight: 3 }',
        'default: { weight: 0.5, max_active_batches: 2 }',
      ].join('\n'),
    );
    expect(tenants.policyOf('team-a')).toEqual({
      maxActiveBatches: 20,
      maxEnqueuedRequests: 100000,
      maxEnqueuedTokens: 50000000,
      weight: 1,
    });
    // A listed owner has exactly its entry: the default's limit is not added to it.
    expect(tenants.policyOf('team-b')).toEqual({ weight: 3 });
    expect(tenants.policyOf('someone-else')).toEqual({ maxActiveBatches: 2, weight: 0.5 });
    expect(tenants.weightOf('team-b')).toBe(3);
  });

  it('limits nobody and weighs everyone 1 without a file, with an empty file, or without a default', () => {
    for (const tenants of [loadTenants(undefined), parseTenants(''), parseTenants('tenants: { a: { weight: 2 } }')]) {
      expect(tenants.policyOf('anyone')).toEqual({ weight: 1 });
    }
  });

  it('reads JSON too, from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tenants-'));
    try {
      const path = join(dir, 'tenants.json');
      writeFileSync(path, JSON.stringify({ tenants: { x: { max_enqueued_tokens: 10 } } }));
      expect(loadTenants(path).policyOf('x')).toEqual({ maxEnqueuedTokens: 10, weight: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad file with a message naming the file and each bad field', () => {
    const bad = (text: string) => {
      try {
        parseTenants(text, 'TENANTS_FILE (t.yaml)');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    const message = bad(
      [
        'tenants:',
        '  team-a: { max_active_batches: -1, weight: 0 }',
        '  team-b: { max_enqueued_tokens: 1.5, max_tokens: 3 }',
        'defaults: {}',
      ].join('\n'),
    );
    expect(message).toMatch(/^TENANTS_FILE \(t\.yaml\) is invalid:/);
    expect(message).toMatch(/tenants\.team-a\.max_active_batches: .*>=0/);
    expect(message).toMatch(/tenants\.team-a\.weight: .*>0/);
    expect(message).toMatch(/tenants\.team-b\.max_enqueued_tokens: .*expected int/);
    expect(message).toMatch(/tenants\.team-b: Unrecognized key: "max_tokens"/);
    expect(message).toMatch(/Unrecognized key: "defaults"/);
    expect(bad('tenants: [')).toMatch(/^TENANTS_FILE \(t\.yaml\): /);
    expect(bad('- just a list')).toMatch(/\(top level\): /);
    expect(() => loadTenants('/nonexistent/tenants.yaml')).toThrow(
      /TENANTS_FILE \(\/nonexistent\/tenants\.yaml\): ENOENT/,
    );
  });
});
