import { describe, expect, it } from 'vitest';
import { compileFieldSet, REDACTED, redactFieldsInPlace } from './redactFields.js';

const replace = () => REDACTED;

describe('redactFieldsInPlace', () => {
  it.each([
    'password',
    'Password',
    'API_KEY',
    'apiKey',
    'api-key',
    'Set-Cookie',
    'card_number',
    'creditCard',
    'EMAIL',
  ])('redacts %s, nested and in arrays', (key) => {
    const v = { [key]: 'x', nested: { list: [{ [key]: { deep: 1 } }] } };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(2);
    expect(v).toEqual({ [key]: REDACTED, nested: { list: [{ [key]: REDACTED }] } });
  });

  it.each(['user_id', 'order_id', 'tokens_used', 'email_verified', 'passwordless', 'uuid', 'timestamp'])(
    'keeps %s',
    (key) => {
      const v = { [key]: 'x' };
      expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(0);
      expect(v).toEqual({ [key]: 'x' });
    },
  );

  it('uses a custom field list and replacement', () => {
    const v = { plan: 'pro', other: 1 };
    redactFieldsInPlace(v, compileFieldSet(['plan']), (x) => `h(${String(x)})`);
    expect(v).toEqual({ plan: 'h(pro)', other: 1 });
  });
});
