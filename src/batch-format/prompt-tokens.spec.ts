import { estimatePromptTokens } from './prompt-tokens';

describe('estimatePromptTokens', () => {
  it('counts the characters of prompt text divided by four, rounded up, on every endpoint shape', () => {
    const chat = {
      model: 'm',
      max_tokens: 1000,
      messages: [
        { role: 'system', content: 'a'.repeat(40) },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'b'.repeat(40) },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        },
      ],
    };
    // 80 characters of text; role names, types, the model and max_tokens are not prompt.
    expect(estimatePromptTokens(chat)).toBe(20);
    expect(estimatePromptTokens({ model: 'm', prompt: 'abcde' })).toBe(2);
    expect(estimatePromptTokens({ model: 'm', input: ['abcd', 'efgh'] })).toBe(2);
    expect(estimatePromptTokens({ model: 'm', input: [1, 2, 3] })).toBe(3); // token ids
    expect(estimatePromptTokens({ model: 'm', instructions: 'abcd', input: [{ role: 'user', content: 'efgh' }] })).toBe(
      2,
    );
    expect(estimatePromptTokens({ model: 'm' })).toBe(0);
  });

  it('stops at a bounded depth', () => {
    let deep: unknown = 'x'.repeat(400);
    for (let i = 0; i < 50; i++) deep = [deep];
    expect(estimatePromptTokens({ input: deep })).toBe(0);
  });
});
