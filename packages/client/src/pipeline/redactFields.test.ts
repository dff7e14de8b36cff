import { describe, expect, it } from 'vitest';
import { compileFieldSet, DEFAULT_REDACTED_FIELDS, REDACTED, redactFieldsInPlace } from './redactFields.js';

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

  it.each([
    'newPassword',
    'password_confirmation',
    'dbPassword',
    'x-api-key',
    'X-API-KEY',
    'myAPIKey',
    'auth_token',
    'sessionToken',
    'GITHUB_TOKEN',
    'secretKey',
    'aws_secret_access_key',
    'X-Auth-Token',
    'userEmail',
    'e-mail',
    'creditCardNumber',
    'cookies',
    'passwords',
  ])('redacts %s, a key with a sensitive name among its words', (key) => {
    const v = { [key]: 'hunter22', n: { [key]: 12345 } };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(2);
    expect(v).toEqual({ [key]: REDACTED, n: { [key]: REDACTED } });
  });

  it.each([
    'token_count',
    'tokenCount',
    'max_tokens',
    'inputTokens',
    'password_length',
    'secret_name',
    'cookie_consent',
    'emailVerified',
    'author',
    'tokenizer',
    'passport',
    'session_id',
  ])('keeps %s, whose words name no secret or describe one', (key) => {
    const v = { [key]: 'value 42' };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(0);
    expect(v).toEqual({ [key]: 'value 42' });
  });

  it('keeps booleans and null under a key matched by its words, not under a sensitive name itself', () => {
    const v = { has_password: true, userEmail: null, password: true, email: null, apiKeyHeader: false };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(2);
    expect(v).toEqual({
      has_password: true,
      userEmail: null,
      password: REDACTED,
      email: REDACTED,
      apiKeyHeader: false,
    });
  });

  it.each([
    'passphrase',
    'PGPASSWORD',
    'passcode',
    'mfa_code',
    'otpCode',
    'pass',
    'PASS',
    'DB_PASS',
    'smtpPass',
    'auth',
    'basicAuth',
    'credentials',
    'aws_credential',
    'signature',
    'x-hub-signature',
    'otp',
    'pin',
    'card_pin',
    'sid',
    'connect.sid',
    'sessionid',
    'PHPSESSID',
    'JSESSIONID',
    '_csrf',
    'social_security_number',
    'socialSecurityNumber',
    'security_code',
    'ccNumber',
    'signingKey',
    'ENCRYPTION_KEY',
    'master_key',
    'authKey',
  ])('redacts the text under %s', (key) => {
    const v = { [key]: 's3cret-value', n: [{ [key]: { user: 'admin', pass: 'x' } }] };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(2);
    expect(v).toEqual({ [key]: REDACTED, n: [{ [key]: REDACTED }] });
  });

  it.each([
    'session',
    'session_id',
    '$session_id',
    'sessionId',
    'sessions',
    'pass_rate',
    'passRate',
    'passed',
    'auth_method',
    'authProvider',
    'oauth',
    'author',
    'signature_algorithm',
    'credential_id',
    'otp_method',
    'otp_attempts',
    'pin_position',
    'pinned',
    'sid_prefix',
    'csrf_enabled',
  ])('keeps %s, whose last word is no secret name', (key) => {
    const v = { [key]: 'value 42' };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(0);
    expect(v).toEqual({ [key]: 'value 42' });
  });

  it('keeps numbers, booleans and null under a name that is also an everyday word', () => {
    // A pass count, a GPIO pin, a pinned flag: text under these names is replaced, numbers not.
    const v = { pass: 120, fail: 3, pin: 13, otp: null, auth: true, DB_PASS: 'S3cretPw', PIN: '4921' };
    expect(redactFieldsInPlace(v, compileFieldSet(), replace)).toBe(2);
    expect(v).toEqual({
      pass: 120,
      fail: 3,
      pin: 13,
      otp: null,
      auth: true,
      DB_PASS: REDACTED,
      PIN: REDACTED,
    });
    // The names that are not everyday words still replace any value.
    const w = { passphrase: 1234, mfa_code: 831446 };
    expect(redactFieldsInPlace(w, compileFieldSet(), replace)).toBe(2);
    expect(w).toEqual({ passphrase: REDACTED, mfa_code: REDACTED });
  });

  it("matches last words with the default list only: the app's own list is all that is matched", () => {
    const v = { pass: 'x', sid: 'y', plan: 'pro' };
    expect(redactFieldsInPlace(v, compileFieldSet(['plan']), replace)).toBe(1);
    expect(v).toEqual({ pass: 'x', sid: 'y', plan: REDACTED });
  });

  it('a list that extends the defaults keeps the last-word names, which it could not name', () => {
    const v = { DB_PASS: 'hunter22', PHPSESSID: 'abc123', otp: '123456', extra: 'x', pass: 3 };
    expect(redactFieldsInPlace(v, compileFieldSet([...DEFAULT_REDACTED_FIELDS, 'extra']), replace)).toBe(4);
    expect(v).toEqual({ DB_PASS: REDACTED, PHPSESSID: REDACTED, otp: REDACTED, extra: REDACTED, pass: 3 });
  });

  it('matches a key written as one word (no _, - or case change) by a name it ends with, or a long one it starts with', () => {
    const secret = {
      csrftoken: 'v',
      newpassword: 'v',
      useremail: 'v',
      authtoken: 'v',
      secretkey: 'v',
      apisecret: 'v',
      sessiontoken: 'v',
      creditcardnumber: 'v',
      dbpassword: 'v',
      MYSQLPWD: 'v',
      userssn: 'v',
    };
    expect(redactFieldsInPlace(secret, compileFieldSet(), replace)).toBe(Object.keys(secret).length);
    expect(Object.values(secret).every((x) => x === REDACTED)).toBe(true);
    // Words that describe the secret, or that only begin with a short name, are kept.
    const kept = {
      passwordless: 'yes',
      passwordlength: 'twelve',
      secretname: 'db',
      tokencount: 'many',
      tokenizer: 'bpe',
      emailverified: 'yes',
      author: 'ann',
      cookiepolicy: 'strict',
    };
    expect(redactFieldsInPlace(kept, compileFieldSet(), replace)).toBe(0);
  });

  it('uses a custom field list and replacement', () => {
    const v = { plan: 'pro', other: 1 };
    redactFieldsInPlace(v, compileFieldSet(['plan']), (x) => `h(${String(x)})`);
    expect(v).toEqual({ plan: 'h(pro)', other: 1 });
  });
});

describe('FieldSet', () => {
  it('answers the same for a raw key before and after it is remembered', () => {
    const fields = compileFieldSet();
    for (let round = 0; round < 2; round++) {
      expect(fields.matches('API-Key')).toBe(true);
      expect(fields.matches('apiKeys')).toBe(false);
      expect(fields.matches('Password')).toBe(true);
    }
  });

  it('stays correct past the memo bound (keys built from data)', () => {
    const fields = compileFieldSet(['secret']);
    for (let i = 0; i < 10_000; i++) expect(fields.matches(`key_${i}`)).toBe(false);
    expect(fields.matches('SECRET')).toBe(true);
    expect(fields.matches('se-cret')).toBe(true);
    const v = { nested: { Se_Cret: 1, other: 2 } };
    expect(redactFieldsInPlace(v, fields, replace)).toBe(1);
    expect(v).toEqual({ nested: { Se_Cret: REDACTED, other: 2 } });
  });

  it('a plain Set of normalised names still works with redactFieldsInPlace', () => {
    const v = { API_KEY: 'k', ok: 1 };
    expect(redactFieldsInPlace(v, new Set(['apikey']), replace)).toBe(1);
    expect(v).toEqual({ API_KEY: REDACTED, ok: 1 });
  });
});
