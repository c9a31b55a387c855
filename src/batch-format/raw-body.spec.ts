import { rawBody, rawRequest } from './raw-body';

describe('rawBody', () => {
  it('returns the body exactly as written, wherever it sits among the keys', () => {
    const body =
      '{"model":"m","seed":12345678901234567890,"temperature":1.0,"messages":[{"role":"user","content":"hi"}]}';
    expect(rawBody(`{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":${body}}`)).toBe(body);
    expect(rawBody(`{"body":${body},"custom_id":"a"}`)).toBe(body);
    expect(rawBody(` { "custom_id" : "a" , "body" :  ${body}  } `)).toBe(body);
  });

  it('is not misled by braces, brackets, quotes and backslashes inside strings', () => {
    const body = String.raw`{"messages":[{"content":"} ] { [ \" \\ \\\" \u0041 ,"}],"stop":["\\"],"x":{"body":1}}`;
    const line = String.raw`{"custom_id":"q\"}\\","body":` + body + ',"url":"/v1/x"}';
    expect(JSON.parse(line).custom_id).toBe('q"}\\');
    expect(rawBody(line)).toBe(body);
    expect(JSON.parse(rawBody(`{"body":${body}}`)!)).toEqual(JSON.parse(body));
  });

  it('takes the last of duplicate keys, as JSON.parse does', () => {
    expect(rawBody('{"body":{"a":1},"body":{"b":2}}')).toBe('{"b":2}');
  });

  it('decodes keys spelled with escapes, and gives up on text that is not an object with a body', () => {
    expect(rawBody(String.raw`{"\u0062ody":{"a":1},"cu\"stom":2}`)).toBe('{"a":1}');
    expect(rawBody('{"custom_id":"a"}')).toBeUndefined();
    expect(rawBody('[1]')).toBeUndefined();
    expect(rawBody('{"body":{"a":1}')).toBeUndefined();
  });

  it('finds the same body JSON.parse does in random lines', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const chars = ['a', '"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', 'é', '\u2028', 'body'];
    const str = () => Array.from({ length: rand(6) }, () => chars[rand(chars.length)]).join('');
    const value = (depth: number): unknown => {
      switch (depth > 2 ? rand(4) : rand(6)) {
        case 0:
          return str();
        case 1:
          return rand(1000) - 500 + rand(100) / 100;
        case 2:
          return [true, false, null][rand(3)];
        case 3:
          return rand(2 ** 31);
        case 4:
          return Array.from({ length: rand(4) }, () => value(depth + 1));
        default:
          return Object.fromEntries(Array.from({ length: rand(4) }, () => [str(), value(depth + 1)]));
      }
    };
    for (let n = 0; n < 2000; n++) {
      const body = { model: str(), extra: value(0) };
      const line = JSON.stringify({
        custom_id: str(),
        method: 'POST',
        url: '/v1/chat/completions',
        body,
        [str()]: value(1),
      });
      const raw = rawBody(line);
      expect(raw).toBeDefined();
      expect(JSON.parse(raw!)).toEqual(JSON.parse(line).body);
      const parsed = JSON.parse(line);
      expect(rawRequest(line)).toEqual({
        customId: parsed.custom_id,
        url: parsed.url,
        body: raw,
        model: parsed.body.model,
      });
    }
  });
});

describe('rawRequest', () => {
  it('reads custom_id, url, body and body.model as JSON.parse would', () => {
    const line = String.raw`{"method":"POST","custom_id":"a\"b\\c\u00e9","url":"/v1/chat/completions","body":{"messages":[{"model":"no"}],"model":"m\u0031"}}`;
    expect(rawRequest(line)).toEqual({
      customId: 'a"b\\cé',
      url: '/v1/chat/completions',
      body: String.raw`{"messages":[{"model":"no"}],"model":"m\u0031"}`,
      model: 'm1',
    });
  });

  it('gives no model for a body without a string model, and the last of duplicate keys', () => {
    expect(rawRequest('{"custom_id":"a","url":"/v1/embeddings","body":{}}')).toMatchObject({ body: '{}', model: null });
    expect(rawRequest('{"custom_id":"a","url":"/v1/x","body":{"model":7}}')?.model).toBeNull();
    expect(
      rawRequest('{"custom_id":"a","custom_id":"b","url":"/v1/x","body":{"model":"x","model":"y"}}'),
    ).toMatchObject({ customId: 'b', model: 'y' });
  });

  it('gives up on a line without the fields sending needs, so the caller parses it', () => {
    expect(rawRequest('{"custom_id":"a","url":"/v1/x"}')).toBeUndefined();
    expect(rawRequest('{"custom_id":1,"url":"/v1/x","body":{}}')).toBeUndefined();
    expect(rawRequest('{"custom_id":"a","url":"/v1/x","body":[1]}')).toBeUndefined();
  });
});
