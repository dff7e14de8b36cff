import { describe, expect, it } from 'vitest';
import { BUILTIN_PII_PATTERNS } from './piiPatterns.js';
import { admits, profileString, resolveNeeds } from './stringProfile.js';
import { createPatternRedactor } from './redactPatterns.js';

const redact = createPatternRedactor({ labels: true });

/** Values a telemetry event carries all the time that must come out byte for byte the same. */
const NOT_PII: readonly string[] = [
  // ids
  '550e8400-e29b-41d4-a716-446655440000',
  '01890a5d-ac96-774b-bcce-b302099a8057',
  '9fceb02d0ae598e95dc970b74767f19372d61af8',
  '9fceb02',
  '0x1f4a9c2e77b3',
  'a1b2c3d4e5f60718293a4b5c6d7e8f90',
  '5f3c1a2b9e8d7c6b5a4f3e2d',
  // timestamps and durations
  '2026-12-02T11:19:32.123Z',
  '2026-12-02T11:19:32+01:00',
  '2026-12-02 11:19:32',
  '1733140800000',
  '1733140800123456789',
  '11:19:32',
  '00:05:30.250',
  'PT1H30M',
  '1500ms',
  '3.25s',
  // versions and ranges
  '1.2.3',
  'v1.2.3.4',
  'version 1.2.3.4',
  'Version 5.4.0.150',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36',
  '10.0.19045.3803',
  '1.0.0.0',
  '4.2.0.0',
  '0.9.12.4',
  '20.20.2',
  '1.0.0-beta.1+exp.sha.5114f85',
  '1.0.0+20130313144700',
  '100%40 off',
  'größe@',
  '^1.2.3 || >=2.0.0 <3.0.0-beta.1',
  '~4.17.21',
  'node@20.19.0',
  'react@^18.2.0',
  '@homing/client@0.1.0',
  // order numbers, counters, money, numbers
  'ORD-2026-000123',
  'order #100234556',
  'INV-4111-2024',
  '4111111111111112',
  '1234567890123456',
  '1234 5678 9012 3456',
  '0.41111111111111111',
  '3.14159265358979',
  '1,234,567.89',
  '$1,000,000',
  '12345',
  '123456789',
  '4155551234',
  // network things that are not someone's address
  'localhost:8080',
  'http://localhost:3000/api/v1/events',
  ':443',
  '127.0.0.1',
  '0.0.0.0',
  '::1',
  '255.255.255.255',
  'std::vector<int>',
  'Foo::Bar::baz',
  // paths, urls, code
  '/var/log/app-2026-12-02.log',
  'C:\\Users\\Public\\report_2026_q4.xlsx',
  'src/pipeline/redactPatterns.ts:123:45',
  'https://example.com/docs/v2/page?id=42&tab=3',
  'TypeError: Cannot read properties of undefined (reading "x") at foo (index.js:10:5)',
  'max_tokens: 1000',
  'token_count=5',
  'tokens=12',
  'sk_',
  'phc_short',
  'the bearer of bad news',
  'Bearer responsibilities',
  'AKIA',
  'button.clicked',
  'en-US',
  'darwin-arm64',
  'linux x64 6.5.0-1025-azure',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0.6778.85 Safari/537.36',
  '#ff8800',
  'rgb(255, 136, 0)',
  '1920x1080',
  'screen 2560 x 1440 @ 2x',
  'retry 3/5 after 250 ms',
  '',
  'plain words only',
  // signed amounts and numbers in groups (not phone numbers), product codes (not cards)
  '+2500000',
  '+1500000.00',
  'revenue +1234567 this week',
  '+125 000 000',
  '+12 500 000',
  '100 200 3000',
  'rows 100-200-3000',
  'build 100.200.3000',
  '5901234123457',
  '4006381333931',
  'basic understanding of the protocol',
  'Basic plan, billed yearly',
  'cookie: none',
  'payment authorization: declined',
  'Authorization: required for admins',
  'authorization: pending review by the team',
  'the cookie banner was dismissed',
  // near misses of the connection-string, signed-URL, webhook, home-path, IBAN, key and
  // key=value patterns: no password, harmless parameters, a route, a Git remote, a bad checksum
  'user@2x.png',
  '2.0.0-rc.1+build.5',
  '1.2.3+sha.5114f85',
  'git@github.com:owner/repo.git',
  'git@gitlab.com:group/sub/project.git',
  'ssh://git@github.com/owner/repo.git',
  'postgres://localhost/db',
  'postgres://localhost:5432/db',
  'postgres://app@localhost/db',
  'redis://cache:6379/0',
  'mongodb://mongo:27017',
  'https://example.com/search?q=shoes&page=2&sort=price',
  'https://shop.example.com/p?code=SUMMER20',
  'https://example.com/error?code=404',
  'https://example.com/error?code=ERR_INVALID_ARG_TYPE',
  'https://example.com/login?auth=google',
  'https://example.com/x?sig_version=2&signature_type=hmac',
  'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261205T000000Z&X-Amz-Expires=900',
  'https://hooks.slack.com/services',
  'https://discord.com/api/webhooks',
  'https://example.com/home/feed',
  '/home/feed?tab=2',
  '/homepage',
  '/srv/home/shared/data',
  './home/x',
  '/api/users/42',
  '/Users/Shared/app.log',
  'C:\\Users\\Default\\NTUSER.DAT',
  'C:\\Program Files\\app\\app.exe',
  'D:\\data\\users.csv',
  'GB82WEST12345698765433',
  'GB82 WEST 1234',
  'AB12CDEF34567890',
  'hw_short',
  'ha_settings_page',
  '{"pass":true,"name":"login works"}',
  'password=null',
  'tests pass: 12',
  'bypass=1234',
  'passed=120',
  '--password-stdin',
  '--pass-through',
  'sessions=3',
];

/** PII that must be caught, with the pattern that must catch it and what must be left around it. */
const PII: readonly (readonly [input: string, expected: string])[] = [
  ['jane.doe+tag@example.co.uk', '[REDACTED:email]'],
  ['contact: JOHN_SMITH99@Mail.Example.COM.', 'contact: [REDACTED:email].'],
  ['a@b.io', '[REDACTED:email]'],
  ['card 4111 1111 1111 1111 on file', 'card [REDACTED:card] on file'],
  ['4111-1111-1111-1111', '[REDACTED:card]'],
  ['5500000000000004', '[REDACTED:card]'],
  ['378282246310005', '[REDACTED:card]'],
  ['3782 822463 10005', '[REDACTED:card]'],
  ['6011111111111117', '[REDACTED:card]'],
  ['card:4111111111111111', 'card:[REDACTED:card]'],
  ['4111 1111 1111 1111 12', '[REDACTED:card] 12'],
  ['ssn 123-45-6789', 'ssn [REDACTED:ssn]'],
  ['123 45 6789', '[REDACTED:ssn]'],
  ['+1 (415) 555-1234', '[REDACTED:phone]'],
  ['+14155551234', '[REDACTED:phone]'],
  ['+44 20 7946 0958', '[REDACTED:phone]'],
  ['+33 1 23 45 67 89', '[REDACTED:phone]'],
  ['call (415) 555-1234 now', 'call [REDACTED:phone] now'],
  ['415-555-1234', '[REDACTED:phone]'],
  ['415.555.1234', '[REDACTED:phone]'],
  ['1-800-555-1234', '[REDACTED:phone]'],
  ['from 203.0.113.42', 'from [REDACTED:ipv4]'],
  ['192.168.1.23:8080', '[REDACTED:ipv4]:8080'],
  ['http://192.168.1.23/admin', 'http://[REDACTED:ipv4]/admin'],
  ['GET /ip/10.20.30.40/status', 'GET /ip/[REDACTED:ipv4]/status'],
  // Documented limits: a 4-part version that is a valid host address is taken as one.
  ['1.2.3.4', '[REDACTED:ipv4]'],
  ['alice@server.example.com:/var/backups', '[REDACTED:email]:/var/backups'],
  ['ssh://alice@host.example.com/repo.git', 'ssh://[REDACTED:email]/repo.git'],
  ['2001:db8:85a3::8a2e:370:7334', '[REDACTED:ipv6]'],
  ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', '[REDACTED:ipv6]'],
  ['fe80::1ff:fe23:4567:890a%eth0', '[REDACTED:ipv6]'],
  ['[2001:db8::1]:443', '[[REDACTED:ipv6]]:443'],
  ['::ffff:192.0.2.128', '[REDACTED:ipv6]'],
  [
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    '[REDACTED:jwt]',
  ],
  ['Authorization: Bearer abc123def456ghi789', 'Authorization: Bearer [REDACTED:bearer]'],
  ['bearer ya29.a0AfH6SMBx-long_token', 'bearer [REDACTED:bearer]'],
  ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', '[REDACTED:apiKey]'],
  ['key rk_test_51H8abcdefghijk used', 'key [REDACTED:apiKey] used'],
  ['ghp_16C7e42F292c6912E7710c838347Ae178B4a', '[REDACTED:apiKey]'],
  ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', '[REDACTED:apiKey]'],
  ['glpat-xxxxxxxxxxxxxxxxxxxx', '[REDACTED:apiKey]'],
  ['AKIAIOSFODNN7EXAMPLE', '[REDACTED:apiKey]'],
  ['xoxb-123456789012-1234567890123-abcdefABCDEF', '[REDACTED:apiKey]'],
  ['xoxp-1234-abcdefghij', '[REDACTED:apiKey]'],
  ['AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI', '[REDACTED:apiKey]'],
  ['phc_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789', '[REDACTED:apiKey]'],
  ['sk-proj-abcdefghijklmnopqrstuvwxyz012345', '[REDACTED:apiKey]'],
  ['npm_abcdefghijklmnopqrstuvwxyz0123456789', '[REDACTED:apiKey]'],
  [
    'https://api.example.com/v1?api_key=abcd1234efgh&page=2',
    'https://api.example.com/v1?api_key=[REDACTED:keyValueSecret]&page=2',
  ],
  ['password: hunter22', 'password: [REDACTED:keyValueSecret]'],
  ['{"client_secret": "s3cr3t-value"}', '{"client_secret": "[REDACTED:keyValueSecret]"}'],
  ['ACCESS_TOKEN=zyx987', 'ACCESS_TOKEN=[REDACTED:keyValueSecret]'],
  ['PASSWORD="correct horse battery staple" next', 'PASSWORD="[REDACTED:keyValueSecret]" next'],
  ["token = 'abcd efgh', x", "token = '[REDACTED:keyValueSecret]', x"],
  ['{"password": "two words"}', '{"password": "[REDACTED:keyValueSecret]"}'],
  [
    'aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'aws_secret_access_key=[REDACTED:keyValueSecret]',
  ],
  ['AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG', 'AWS_SECRET_ACCESS_KEY=[REDACTED:keyValueSecret]'],
  ['export GITHUB_TOKEN=abcd1234wxyz', 'export GITHUB_TOKEN=[REDACTED:keyValueSecret]'],
  ['csrftoken=Zk1a9XcV2b', 'csrftoken=[REDACTED:keyValueSecret]'],
  ['Cookie: session=abc123; csrftoken=xyz789', 'Cookie: [REDACTED:keyValueSecret]'],
  ['set-cookie: sid=31d4d96e407aad42; Path=/; Secure', 'set-cookie: [REDACTED:keyValueSecret]'],
  ['Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: Basic [REDACTED:bearer]'],
  ['Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', 'Authorization: Token [REDACTED:bearer]'],
  [
    "curl -H 'authorization: token abcd1234efgh' /api",
    "curl -H 'authorization: token [REDACTED:bearer]' /api",
  ],
  [
    'Proxy-Authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCC',
    'Proxy-Authorization: Negotiate [REDACTED:bearer]',
  ],
  ['{"Authorization":"k3y-abcdef123456"}', '{"Authorization":"[REDACTED:bearer]"}'],
  ['X-Authorization: 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', 'X-Authorization: [REDACTED:bearer]'],
  [
    'Authorization: Token "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"',
    'Authorization: Token "[REDACTED:bearer]"',
  ],
  [
    'key: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumiEAV5ZRH+8=\n-----END RSA PRIVATE KEY----- end',
    'key: [REDACTED:privateKey] end',
  ],
  [
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----',
    '[REDACTED:privateKey]',
  ],
  ['+1 415 555 1234', '[REDACTED:phone]'],
  ['+4915112345678', '[REDACTED:phone]'],
  ['512 256 1024', '[REDACTED:phone]'],
  ['6759649826438453', '[REDACTED:card]'],
  ['josé@example.com', '[REDACTED:email]'],
  ['contact müller@firma.de today', 'contact [REDACTED:email] today'],
  ['user@bücher.de', '[REDACTED:email]'],
  ['/signup?email=bob%40example.com&plan=pro', '/signup?email=[REDACTED:email]&plan=pro'],
  ['123-45-6789 4111 1111 1111 1111', '[REDACTED:ssn] [REDACTED:card]'],
  ['4111 1111-1111 1111', '[REDACTED:card]'],
  // Homing's own keys
  ['hw_4cN2k9dQ0vT7x1LmP8sR3uY6wZ5aB2eF', '[REDACTED:apiKey]'],
  ['key ha_4cN2k9dQ0vT7x1LmP8sR3uY6wZ5aB2eF4cN2k9dQ0vT used', 'key [REDACTED:apiKey] used'],
  ['write key hw_4cN2k9dQ-vT7x1LmP8sR3uY6wZ5aB_eF.', 'write key [REDACTED:apiKey].'],
  // `pass`, session cookies and command-line flags
  ['login failed: user=zoe pass=S3cretPw', 'login failed: user=zoe pass=[REDACTED:keyValueSecret]'],
  ['DB_PASS=S3cretPw', 'DB_PASS=[REDACTED:keyValueSecret]'],
  ['PGPASSWORD=S3cretPw', 'PGPASSWORD=[REDACTED:keyValueSecret]'],
  ['passphrase: "correct horse"', 'passphrase: "[REDACTED:keyValueSecret]"'],
  ['sessionid=abcdef0123456789; theme=dark', 'sessionid=[REDACTED:keyValueSecret]; theme=dark'],
  ['PHPSESSID=abcdef0123456789', 'PHPSESSID=[REDACTED:keyValueSecret]'],
  [
    'homing serve --password S3cretPw --port 8090',
    'homing serve --password [REDACTED:keyValueSecret] --port 8090',
  ],
  ['--admin-key=ha_not_a_real_key_0123', '--admin-key=[REDACTED:keyValueSecret]'],
  ['--db-password "two words" -v', '--db-password "[REDACTED:keyValueSecret]" -v'],
  // passwords in URLs, whatever the host looks like; scheme, user and host stay
  ['postgres://app:S3cretPw@localhost:5432/prod', 'postgres://app:[REDACTED:urlSecret]@localhost:5432/prod'],
  ['postgres://app:S3cretPw@db:5432/prod', 'postgres://app:[REDACTED:urlSecret]@db:5432/prod'],
  [
    'postgres://app:S3cretPw@10.0.0.5:5432/prod',
    'postgres://app:[REDACTED:urlSecret]@[REDACTED:ipv4]:5432/prod',
  ],
  [
    'postgres://app:p%40ss!w0rd@db.example.com/prod',
    'postgres://app:[REDACTED:urlSecret]@db.example.com/prod',
  ],
  ['postgres://app:p@ss@db:5432/x', 'postgres://app:[REDACTED:urlSecret]@db:5432/x'],
  ['redis://:S3cretPw@cache:6379/0', 'redis://:[REDACTED:urlSecret]@cache:6379/0'],
  [
    'mongodb+srv://app:S3cretPw@cluster0.example.net/db',
    'mongodb+srv://app:[REDACTED:urlSecret]@cluster0.example.net/db',
  ],
  [
    'Error: connect ECONNREFUSED mysql://root:S3cretPw@127.0.0.1:3306/app',
    'Error: connect ECONNREFUSED mysql://root:[REDACTED:urlSecret]@127.0.0.1:3306/app',
  ],
  ['https://alice:S3cretPw@example.com/path', 'https://alice:[REDACTED:urlSecret]@example.com/path'],
  ['amqp://guest:guest@rabbitmq:5672/', 'amqp://guest:[REDACTED:urlSecret]@rabbitmq:5672/'],
  // capability URLs: the signature or code, not the URL
  [
    'https://b.s3.amazonaws.com/f?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abcdef0123456789abcdef0123456789&X-Amz-Expires=900',
    'https://b.s3.amazonaws.com/f?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=[REDACTED:urlSecret]&X-Amz-Expires=900',
  ],
  ['X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr0123456789abc', 'X-Amz-Security-Token=[REDACTED:keyValueSecret]'],
  [
    'https://cdn.example.com/v.mp4?Expires=1&Signature=abcDEF0123456789abcDEF&Key-Pair-Id=K2',
    'https://cdn.example.com/v.mp4?Expires=1&Signature=[REDACTED:urlSecret]&Key-Pair-Id=K2',
  ],
  [
    'https://storage.googleapis.com/b/o?X-Goog-Signature=abcdef0123456789abcdef',
    'https://storage.googleapis.com/b/o?X-Goog-Signature=[REDACTED:urlSecret]',
  ],
  [
    'https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=abcDEF0123456789%2Babc%3D',
    'https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=[REDACTED:urlSecret]',
  ],
  [
    'https://app.example.com/oauth/callback?code=4/0AX4XfWh-authcode123&state=xyz',
    'https://app.example.com/oauth/callback?code=[REDACTED:urlSecret]&state=xyz',
  ],
  [
    'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
    'https://hooks.slack.com/services/T00000000/B00000000/[REDACTED:urlSecret]',
  ],
  [
    'https://discord.com/api/webhooks/123456789012345678/abcDEF-_ghiJKL0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS',
    'https://discord.com/api/webhooks/123456789012345678/[REDACTED:urlSecret]',
  ],
  // the user name of a home directory, in any path
  ['/home/alice/projects/app/src/index.ts', '/home/[REDACTED:homePath]/projects/app/src/index.ts'],
  ['/Users/alice.smith/Library/app.log', '/Users/[REDACTED:homePath]/Library/app.log'],
  [
    'C:\\Users\\alice\\AppData\\Roaming\\app\\log.txt',
    'C:\\Users\\[REDACTED:homePath]\\AppData\\Roaming\\app\\log.txt',
  ],
  ['C:\\Users\\Jane Doe\\Documents\\x.txt', 'C:\\Users\\[REDACTED:homePath]\\Documents\\x.txt'],
  ['C:\\Users\\alice is not writable', 'C:\\Users\\[REDACTED:homePath] is not writable'],
  ['c:\\users\\bob\\x', 'c:\\users\\[REDACTED:homePath]\\x'],
  ['{"file":"C:\\\\Users\\\\alice\\\\x"}', '{"file":"C:\\\\Users\\\\[REDACTED:homePath]\\\\x"}'],
  ['file:///C:/Users/alice/app/main.js', 'file:///C:/Users/[REDACTED:homePath]/app/main.js'],
  ['file:///home/alice/app/main.js', 'file:///home/[REDACTED:homePath]/app/main.js'],
  [
    "ENOENT: no such file or directory, open '/home/alice/.config/app/settings.json'",
    "ENOENT: no such file or directory, open '/home/[REDACTED:homePath]/.config/app/settings.json'",
  ],
  ['cwd=/home/alice', 'cwd=/home/[REDACTED:homePath]'],
  ['    at load (/home/alice/app/x.ts:10:5)', '    at load (/home/[REDACTED:homePath]/app/x.ts:10:5)'],
  // IBANs (check digits valid), printed in groups or in one run
  ['GB82WEST12345698765432', '[REDACTED:iban]'],
  ['GB82 WEST 1234 5698 7654 32', '[REDACTED:iban]'],
  ['IBAN: DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX', 'IBAN: [REDACTED:iban], BIC COBADEFFXXX'],
  ['NO93 8601 1117 947', '[REDACTED:iban]'],
  ['BE68 5390 0754 7034 THEN', '[REDACTED:iban] THEN'],
  ['BE68539007547034 DE89370400440532013000', '[REDACTED:iban] [REDACTED:iban]'],
  ['4111111111111111 5500000000000004', '[REDACTED:card] [REDACTED:card]'],
  [
    'user jane@x.org from 10.1.2.3 paid with 4242424242424242',
    'user [REDACTED:email] from [REDACTED:ipv4] paid with [REDACTED:card]',
  ],
];

describe('built-in PII patterns', () => {
  it.each(NOT_PII.map((s) => [s]))('leaves %j unchanged', (s) => {
    expect(redact(s)).toBe(s);
  });

  it.each(PII)('redacts %j', (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it('redacts PII inside every not-PII value it is glued to with spaces', () => {
    for (const safe of NOT_PII) {
      expect(redact(`${safe} jane@example.com ${safe}`)).toBe(`${safe} [REDACTED:email] ${safe}`);
    }
  });
});

describe('international phone numbers, amounts and image names', () => {
  // Written as each country writes them: groups longer than 4 digits after the country code.
  const PHONES = [
    '+44 7911 123456',
    '+49 30 12345678',
    '+49 170 1234567',
    '+91 98765 43210',
    '+91 9876543210',
    '+33 612345678',
    '+31 6 12345678',
    '+55 11 91234-5678',
    '+61 412 345 678',
    '+34 612 34 56 78',
    '+81 90-1234-5678',
    '+7 912 345-67-89',
    '+353 85 123 4567',
  ];
  it.each(PHONES.map((s) => [s]))('redacts the phone number %j', (phone) => {
    expect(redact(phone)).toBe('[REDACTED:phone]');
    expect(redact(`call ${phone} today`)).toBe('call [REDACTED:phone] today');
  });

  const KEPT = [
    // signed amounts in thousands groups, with cents, round, or of at most 10 digits
    '+1 000 000',
    '+1 000 000 000',
    '+1.000.000.000',
    '+10 000 000 000',
    '+125 000 000',
    '+1 234 567.89',
    '+12 345 678.90',
    // numbers too short or too long for E.164
    '+49 30 1234',
    '+1 2345 6789 0123 4567',
    // ids, dates and versions around a plus
    '2024-03-15T10:22:33+0530',
    '1.0.0+20130313144700',
    '+2024-03-15',
    'ORD-2024-000123',
    'score +21.5',
    '+05:30',
    // high-density image names are not emails
    'logo@2x.png',
    'icon@3x.webp',
    'avatar@2x.jpg',
    'hero@3X.JPEG',
    'https://cdn.example.com/img/logo@2x.png',
    'https://x.com/static/icons/close@3x.png?v=2',
    'sprite@2x.svg banner@1x.avif anim@2x.gif',
    'sprite@1.5x.png favicon@2x.ico photo@2x.heic',
    // nor a package file's version
    'pkg@1.2.3.tgz',
    'left-pad@1.3.0.tgz',
  ];
  it.each(KEPT.map((s) => [s]))('leaves %j unchanged', (s) => {
    expect(redact(s)).toBe(s);
  });

  it('still redacts an email whose domain only starts like an image name', () => {
    expect(redact('ann@2x.png.example.com')).toBe('[REDACTED:email]');
    expect(redact('ann@1.2.example.com')).toBe('[REDACTED:email]');
    expect(redact('ann@2xpng.com')).toBe('[REDACTED:email]');
  });
});

describe('private keys: a linear scan', () => {
  it('finds a key after many lone headers, and a match never spans another BEGIN', () => {
    const header = '-----BEGIN PRIVATE KEY-----';
    const key = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    const scan = createPatternRedactor({ labels: true, maxStringLength: 1_048_576 });
    const lone = header.repeat(300);
    // A body that may not hold another BEGIN is what keeps the scan linear: with `[\s\S]{0,16384}?`
    // alone, the first header matched through to the END (and every header scanned 16 KB ahead).
    expect(scan(`${lone} ${key}`)).toBe(`${lone} [REDACTED:privateKey]`);
    const count = Math.ceil(200_000 / header.length);
    const many = `${header.repeat(count)}-----END PRIVATE KEY-----`;
    const values = { a: many, b: header.repeat(300), c: `${header}x`.repeat(7000) };
    expect(scan(values)).toEqual({
      a: `${header.repeat(count - 1)}[REDACTED:privateKey]`,
      b: values.b,
      c: values.c,
    });
  });
});

describe('prechecks', () => {
  it('never rule out a string a pattern matches (mutated samples of every kind)', () => {
    const samples = [
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----',
      'x eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln y',
      'Authorization: Bearer abcdef1234567890xyz',
      'Authorization: Basic dXNlcjpwYXNzd29yZA==',
      'Cookie: sid=abc123; theme=dark',
      'api_key=abcd1234 and PASSWORD="correct horse" and token: abcdefgh',
      'sk_live_abcdefghijklmnop AKIAABCDEFGHIJKLMNOP glpat-abcdefghijklmnopqrst',
      `SG.abcdefghijklmnop.abcdefghijklmnopqrst AIza${'b'.repeat(35)} ghp_${'c'.repeat(36)}`,
      'jane.doe@example.com bob%40example.com josé@exämple.de',
      '2001:db8::1 and ::ffff:1.2.3.4',
      'from 203.0.113.42',
      'card 4111 1111 1111 1111 or 4111-1111-1111-1111',
      'ssn 123-45-6789',
      '+1 (415) 555-1234, 415-555-1234, +442079460958',
      'postgres://app:S3cretPw@db:5432/prod redis://:pw12@cache',
      'https://x.example/f?X-Amz-Signature=abcdef0123456789abcd&sig=abcdef0123456789abcd',
      'https://x.example/cb?code=4/0AX4XfWh-authcode123&state=1',
      'https://hooks.slack.com/services/T0/B0/XXXXXXXXXXXXXXXXXXXXXXXX',
      'https://discord.com/api/webhooks/123456789/abcDEF-_ghiJKL0123456789abcdefghijkl',
      '/home/alice/app /Users/bob/x C:\\Users\\carol\\x c:/users/dave/y',
      'GB82 WEST 1234 5698 7654 32 and GB82WEST12345698765432',
      'pass=S3cretPw DB_PASS=S3cretPw --password S3cretPw --api-key=abcd1234',
      'hw_4cN2k9dQ0vT7x1LmP8sR3uY6wZ5aB2eF',
    ];
    let seed = 99;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const noise = 'aZ_-.:=@%40 9xK';
    const mutate = (text: string): string => {
      let out = '';
      for (const ch of text) {
        const r = next() % 100;
        if (r < 2) continue; // dropped
        if (r < 4) out += noise[next() % noise.length];
        out += r < 8 ? (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) : ch;
      }
      return out;
    };
    const profile = profileString('', {} as Parameters<typeof profileString>[1]);
    const matched = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const text = i < samples.length ? samples[i]! : mutate(samples[next() % samples.length]!);
      profileString(text, profile);
      for (const p of BUILTIN_PII_PATTERNS) {
        p.regex.lastIndex = 0;
        if (!p.regex.test(text)) continue;
        matched.set(p.name, (matched.get(p.name) ?? 0) + 1);
        if (!admits({ ...resolveNeeds(p.needs), hint: p.hint }, text, profile)) {
          throw new Error(`${p.name}: the precheck rules out ${JSON.stringify(text)}, which it matches`);
        }
      }
    }
    for (const p of BUILTIN_PII_PATTERNS) expect(matched.get(p.name) ?? 0, p.name).toBeGreaterThan(20);
  });
});
