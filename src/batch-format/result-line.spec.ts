import type { UpstreamAnswer } from '../upstream/answer';
import { errorLine, resultLine } from './result-line';

const response = (status: number, body: string, requestId: string | null = 'req_up'): UpstreamAnswer => ({
  kind: 'response',
  status,
  requestId,
  body: Buffer.from(body),
  retryAfterMs: undefined,
  attempts: 1,
});
const line = (answer: UpstreamAnswer, customId = 'c-1') =>
  resultLine('batch_req_abc', customId, answer, () => 'req_ours');

describe('resultLine', () => {
  it("keeps a one-line JSON body's bytes as they came, and reads usage from it", () => {
    const body = '{"id":"x","seed":12345678901234567890,"n":1.0,"usage":{"prompt_tokens":3,"completion_tokens":4}}';
    const out = line(response(200, body));
    expect(out.ok).toBe(true);
    expect(out.text).toBe(
      `{"id":"batch_req_abc","custom_id":"c-1","response":{"status_code":200,"request_id":"req_up","body":${body}},"error":null}\n`,
    );
    expect(out.usage).toMatchObject({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
  });

  it('puts a pretty-printed body on one line', () => {
    const out = line(response(200, '{\n  "a": [1,\r\n 2]\n}\n'));
    expect(out.text.split('\n')).toHaveLength(2);
    expect(JSON.parse(out.text).response.body).toEqual({ a: [1, 2] });
  });

  it('turns a 2xx body that is not JSON into an error line', () => {
    const out = line(response(200, '<html>oops'));
    expect(out.ok).toBe(false);
    expect(JSON.parse(out.text)).toMatchObject({
      response: null,
      error: { code: 'invalid_upstream_response' },
    });
  });

  it('wraps a non-2xx body that is not JSON as the answer body, with our request id when the upstream sent none', () => {
    const out = line(response(502, 'bad gateway', null));
    expect(out.ok).toBe(false);
    expect(out.usage).toBeUndefined();
    expect(JSON.parse(out.text)).toMatchObject({
      response: { status_code: 502, request_id: 'req_ours', body: { error: { message: 'bad gateway' } } },
    });
  });

  it('escapes the custom_id, and every line is one JSON line', () => {
    const customId = 'quote " backslash \\ newline \n tab \t é';
    for (const answer of [
      response(200, '{"ok":true}'),
      response(400, '{"error":{"message":"no"}}'),
      { kind: 'error', code: 'upstream_timeout', message: 'The upstream did not answer in time.' } as UpstreamAnswer,
    ]) {
      const out = line(answer, customId);
      expect(out.text.endsWith('\n')).toBe(true);
      expect(out.text.slice(0, -1)).not.toContain('\n');
      expect(JSON.parse(out.text).custom_id).toBe(customId);
    }
  });

  it('writes a failure without an answer as an error line', () => {
    expect(JSON.parse(errorLine('batch_req_1', 'c', 'batch_expired', 'Too late.'))).toEqual({
      id: 'batch_req_1',
      custom_id: 'c',
      response: null,
      error: { code: 'batch_expired', message: 'Too late.' },
    });
  });
});
