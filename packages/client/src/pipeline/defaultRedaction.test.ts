import { describe, expect, it } from 'vitest';
import { buildRedactor } from '../telemetry/redactor.js';

// The client's default redaction (field names, then patterns), as `track()` runs it, on what an
// app's events carry: secrets a telemetry SDK is expected to scrub, and values that look a bit
// like them and must arrive byte for byte.
const redact = buildRedactor({});

/** Each holds `S3cretPw`, `alice` or another marker that must not survive. */
const SECRETS: Record<string, unknown> = {
  pass: 'S3cretPw-1',
  DB_PASS: 'S3cretPw-2',
  PGPASSWORD: 'S3cretPw-3',
  passphrase: 'S3cretPw-4',
  credentials: { user: 'admin', pass: 'S3cretPw-5' },
  auth: { username: 'admin', password: 'S3cretPw-6' },
  otp: '831446',
  mfa_code: '831447',
  pin: '4921',
  sessionid: 'sessabcdef0123456789',
  sid: 's%3Aabcdef0123456789.sig',
  signature: 'sig-value-abcdef0123456789',
  env: {
    DATABASE_URL: 'postgres://app:S3cretPw-7@db:5432/prod',
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
    HOMING_KEY: 'hw_4cN2k9dQ0vT7x1LmP8sR3uY6wZ5aB2eF',
  },
  admin: 'ha_4cN2k9dQ0vT7x1LmP8sR3uY6wZ5aB2eF4cN2k9dQ0vT',
  redis: 'redis://:S3cretPw-8@cache:6379/0',
  mysql_error: 'Error: connect ECONNREFUSED mysql://root:S3cretPw-9@127.0.0.1:3306/app',
  line: 'login failed: user=zoe pass=S3cretPw-10',
  argv: 'homing serve --password S3cretPw-11',
  s3: 'https://b.s3.amazonaws.com/f?X-Amz-Signature=abcdef0123456789abcdef0123456789&X-Amz-Expires=900',
  cloudfront: 'https://cdn.example.com/v.mp4?Expires=1&Signature=abcDEF0123456789abcDEF&Key-Pair-Id=K2',
  gcs: 'https://storage.googleapis.com/b/o?X-Goog-Signature=abcdef0123456789abcdef',
  sas: 'https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=abcDEF0123456789%2Babc%3D',
  oauth: 'https://app.example.com/oauth/callback?code=4/0AX4XfWh-authcode123&state=xyz',
  discord: 'https://discord.com/api/webhooks/123456789012345678/abcDEF-_ghiJKL0123456789abcdefghijkl',
  cwd: '/home/alice/projects/app',
  log: '/Users/alice.smith/Library/Logs/app.log',
  config: 'C:\\Users\\alice\\AppData\\Roaming\\app\\config.json',
  error: "ENOENT: no such file or directory, open '/home/alice/.config/app/settings.json'",
  iban: 'GB82 WEST 1234 5698 7654 32',
  card: '4111 1111-1111 1111',
};

/** The audit's 37 values that are not PII, and near misses of every pattern added since. */
const NOT_PII: Record<string, unknown> = {
  uuid: '0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011',
  uuid4: 'f47ac10b-58cc-4372-a567-0e02b2c3d479',
  ts: '2026-12-05T21:10:09.952Z',
  ts_space: '2026-12-05 21:10:09',
  epoch_ms: '1796505010355',
  version: '1.24.3',
  version4: '10.0.19045.1',
  semver_pre: '2.0.0-rc.1+build.5',
  hex_id: 'a3f9c2e1b7d04e6f',
  sha: 'd670460b4b4aece5915caf5c68d12f560a9fe3e4',
  sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  order_no: 'ORD-2026-000123',
  order_digits: '4000123456',
  invoice: 'INV-0012-3456-7890',
  tracking: '1Z999AA10123456784',
  isbn: '978-3-16-148410-0',
  price: '+1500000.00',
  duration: '00:01:23.456',
  coords: '51.5074, -0.1278',
  css_color: '#ff00aa',
  mime: 'application/vnd.api+json',
  retina: 'logo@2x.png',
  npm_scope: '@homing/client@0.1.0',
  package_at: 'lodash@4.17.21',
  token_count: 1234,
  password_length: 12,
  email_verified: true,
  has_password: true,
  ip_local: '127.0.0.1',
  port_pair: '8080:80',
  mac_addr: '00:1B:44:11:3A:B7',
  date_ddmm: '12.04.1985',
  build: '20261205.1234.5678.9012',
  k8s: 'pod-7d4b9c6f5d-x2x9k',
  git_describe: 'v1.2.3-14-g2414721',
  ulid: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
  path_plain: '/api/v1/users/42/orders',
  // near misses
  $session_id: '0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011',
  session: 42,
  session_id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479',
  sessionId: 'abc-123',
  pass_rate: 0.97,
  tests: { pass: 120, fail: 3, pinned: true },
  auth_method: 'password',
  auth_provider: 'google',
  signature_algorithm: 'RS256',
  user_avatar: 'user@2x.png',
  remote: 'git@github.com:org/repo.git',
  semver_build: '1.2.3+sha.5114f85',
  database: 'postgres://localhost/db',
  database_user: 'postgres://app@localhost:5432/db',
  cache: 'redis://cache:6379/0',
  search: 'https://example.com/search?q=shoes&page=2&sort=price',
  promo: 'https://shop.example.com/p?code=SUMMER20',
  error_page: 'https://example.com/error?code=404',
  s3_public: 'https://b.s3.amazonaws.com/f?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900',
  page: 'https://example.com/home/feed',
  route: '/home/feed?tab=2',
  shared: '/Users/Shared/app.log',
  public: 'C:\\Users\\Public\\report_2026_q4.xlsx',
  tilde: '~/projects/app',
  not_iban: 'GB82WEST12345698765433',
  not_key: 'hw_short',
  report: '{"pass":true,"name":"login works"}',
  flag: '--password-stdin',
};

describe('default redaction', () => {
  it('leaves none of the secrets behind', () => {
    const out = JSON.stringify(redact(structuredClone(SECRETS)));
    expect(out).not.toMatch(
      /S3cretPw|83144[67]|4921|sessabcdef|abcdef0123456789|abcDEF|XXXXXXXX|authcode|alice|GB82|4111|4cN2k9dQ/,
    );
  });

  it('replaces only the secret of a URL, a path or a line', () => {
    const out = redact(structuredClone(SECRETS));
    expect(out).toMatchObject({
      env: {
        DATABASE_URL: 'postgres://app:[REDACTED]@db:5432/prod',
        SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T00000000/B00000000/[REDACTED]',
        HOMING_KEY: '[REDACTED]',
      },
      redis: 'redis://:[REDACTED]@cache:6379/0',
      mysql_error: 'Error: connect ECONNREFUSED mysql://root:[REDACTED]@127.0.0.1:3306/app',
      line: 'login failed: user=zoe pass=[REDACTED]',
      argv: 'homing serve --password [REDACTED]',
      s3: 'https://b.s3.amazonaws.com/f?X-Amz-Signature=[REDACTED]&X-Amz-Expires=900',
      oauth: 'https://app.example.com/oauth/callback?code=[REDACTED]&state=xyz',
      cwd: '/home/[REDACTED]/projects/app',
      config: 'C:\\Users\\[REDACTED]\\AppData\\Roaming\\app\\config.json',
      error: "ENOENT: no such file or directory, open '/home/[REDACTED]/.config/app/settings.json'",
    });
  });

  it('keeps every value that is not PII byte for byte', () => {
    expect(redact(structuredClone(NOT_PII))).toEqual(NOT_PII);
  });
});
