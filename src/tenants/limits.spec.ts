import { hasLimits, limitErrors } from './limits';

describe('limitErrors', () => {
  const policy = { maxActiveBatches: 20, maxEnqueuedRequests: 100_000, maxEnqueuedTokens: 50_000_000, weight: 1 };

  it('admits a batch that fits every limit exactly', () => {
    const enqueued = { batches: 19, requests: 90_000, tokens: 48_000_000 };
    expect(limitErrors('team-a', policy, enqueued, { requests: 10_000, tokens: 2_000_000 })).toEqual([]);
  });

  it('names each limit the batch would pass, with the limit, what is enqueued and what the batch adds', () => {
    const enqueued = { batches: 20, requests: 95_000, tokens: 49_000_000 };
    expect(limitErrors('team-a', policy, enqueued, { requests: 20_000, tokens: 2_000_000 })).toEqual([
      { code: 'batch_limit_exceeded', message: 'Active batch limit reached for team-a: 20 of 20 batches active.' },
      {
        code: 'request_limit_exceeded',
        message:
          'Enqueued request limit reached for team-a: 95,000 of 100,000 requests enqueued; this batch has 20,000.',
      },
      {
        code: 'token_limit_exceeded',
        message:
          'Enqueued token limit reached for team-a: 49,000,000 of 50,000,000 tokens enqueued; this batch needs 2,000,000.',
      },
    ]);
  });

  it('refuses a batch larger than the limit alone, and checks only the limits that are set', () => {
    const none = { batches: 0, requests: 0, tokens: 0 };
    expect(limitErrors('b', { maxEnqueuedTokens: 10, weight: 1 }, none, { requests: 1, tokens: 11 })).toMatchObject([
      { code: 'token_limit_exceeded' },
    ]);
    const busy = { batches: 1000, requests: 1e9, tokens: 1e12 };
    expect(limitErrors('b', { weight: 1 }, busy, { requests: 1, tokens: 1 })).toEqual([]);
    expect(hasLimits({ weight: 2 })).toBe(false);
    expect(hasLimits({ maxActiveBatches: 0, weight: 1 })).toBe(true);
  });
});
