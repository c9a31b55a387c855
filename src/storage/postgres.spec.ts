import { redactUrl } from './postgres';

describe('redactUrl', () => {
  it.each([
    ['postgres://app:secret@db:5432/batches', 'postgres://app:***@db:5432/batches'],
    ['postgresql://app:se@c/ret@db/batches?sslmode=require', 'postgresql://app:***@db/batches?sslmode=require'],
    ['postgres://db/batches?user=app&password=secret', 'postgres://db/batches?user=app&password=***'],
    ['postgres://app@db:5432/batches', 'postgres://app@db:5432/batches'],
    ['postgres://db:5432/batches', 'postgres://db:5432/batches'],
  ])('%s -> %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});
