import { createHash, timingSafeEqual } from 'node:crypto';
import type { AppConfig } from '../config/config';
import { AuthenticationError } from './errors';

/** The owner every request gets when no API_KEYS are configured. */
export const OPEN_OWNER = 'default';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Maps `Authorization: Bearer KEY` to its owner; keys are compared in constant time and never logged. */
export class ApiKeys {
  private readonly keys: { digest: Buffer; owner: string }[] | undefined;

  constructor(keys: AppConfig['API_KEYS']) {
    this.keys = keys && [...keys].map(([key, owner]) => ({ digest: digest(key), owner }));
  }

  /** The owner of the header's key; throws AuthenticationError for a missing or unknown key. */
  ownerOf(header: string | undefined): string {
    if (!this.keys) return OPEN_OWNER;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) {
      throw new AuthenticationError(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    }
    const given = digest(match[1]);
    let owner: string | undefined;
    // Compare against every key, without an early exit, so timing says nothing about which key was close.
    for (const key of this.keys) if (timingSafeEqual(key.digest, given)) owner = key.owner;
    if (!owner) throw new AuthenticationError('Incorrect API key provided.', null, 'invalid_api_key');
    return owner;
  }
}

/**
 * The hex SHA-256 of Authorization headers, remembered for the last `capacity` distinct ones: the rate limiter keys
 * its buckets by it on every request, and hashing took about 5% of the API's CPU on `GET /v1/batches/{id}`. The
 * limiter's store holds only digests; the headers stay in this process's memory, as the configured keys do.
 */
export class HeaderDigests {
  private readonly known = new Map<string, string>();

  constructor(private readonly capacity = 1024) {}

  of(header: string): string {
    let hex = this.known.get(header);
    if (hex === undefined) {
      hex = createHash('sha256').update(header).digest('hex');
      // Full (many distinct keys, or someone trying random ones): start over rather than track recency.
      if (this.known.size >= this.capacity) this.known.clear();
      this.known.set(header, hex);
    }
    return hex;
  }

  /** How many digests are remembered. */
  get size(): number {
    return this.known.size;
  }
}
