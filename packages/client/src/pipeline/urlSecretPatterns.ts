/**
 * Secrets that URLs carry (pattern `urlSecret`): the password of a connection string or of a URL
 * with credentials, the signature or one-time code of a capability URL, the token of a webhook
 * URL. Only the secret is replaced: the scheme, the user name, the host, the path and the other
 * query parameters stay, so the URL still says where it pointed.
 */
import type { PiiPattern } from './piiPatterns.js';
import { lettersOf } from './stringProfile.js';

// `scheme://user:password@host`: the user part may be empty (`redis://:pw@cache`), and the
// password runs to the last `@` before the path, as URL parsers read it, so one with an `@` of
// its own (`p@ss`) is replaced whole. Brackets are not allowed in a user or password (RFC 3986:
// percent-encoded there), and one that a replacement left must not become part of one. The user name stays: in a connection string it is a role
// (`app`, `postgres`, `guest`), which says which one failed to connect; an email used as one is
// written `%40` and is replaced by the email pattern.
const URL_PASSWORD =
  /(?<![A-Za-z0-9+.\]-])([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^\s:/?#@[\]"'`<>]{0,256}:)([^\s/?#@[\]"'`<>][^\s/?#[\]"'`<>]{0,511})(?=@[^\s/?#@"'`<>])/g;

// Query (or fragment, or `;` path) parameters whose value is a capability: the signatures of
// S3, Google Cloud Storage, CloudFront and Azure SAS URLs (`X-Amz-Signature`, `X-Goog-Signature`,
// `Signature`, `sig`, as they are written, or in lower case), an OAuth callback's `code` and
// Firebase's `auth`. `code` and `auth` are ordinary words too (`?code=404`, `?code=SUMMER20`,
// `?auth=google`), so theirs must be 20 characters with a digit, as issued codes are; a
// signature 16. The S3 and GCS names are taken after a space too (a parameter printed alone).
// `access_token`, `api_key`, `X-Amz-Security-Token` and any other `…token=` are
// `keyValueSecret`'s.
const URL_QUERY_SECRET =
  /((?:(?<=[?&;#])(?:[Ss]ignature|sig|code|auth)|(?<![^?&;#\s])[Xx]-(?:Amz|amz|Goog|goog)-[Ss]ignature)=)([^\s&#;?"'`<>[\]][^\s&#;?"'`<>]{15,4095})/g;
const ORDINARY_WORDS = new Set(['code=', 'auth=']);
const NEEDS_A_DIGIT = /\d/;

/**
 * A name of theirs right before one of the string's `=` (there are few: found by indexOf); the
 * letter before it, `g`, `e` or `h`, rules most out before any is compared.
 */
function hasSecretParameterName(s: string): boolean {
  for (let i = s.indexOf('='); i !== -1; i = s.indexOf('=', i + 1)) {
    switch (s.charCodeAt(i - 1)) {
      case 103: // g
        if (s.endsWith('ig', i)) return true;
        break;
      case 101: // e
        if (s.endsWith('ignature', i) || s.endsWith('code', i)) return true;
        break;
      case 104: // h
        if (s.endsWith('auth', i)) return true;
        break;
    }
  }
  return false;
}

// Slack's incoming webhooks and workflow triggers, Discord's webhooks: whoever has the URL can
// post to the channel. The team, app and channel ids before the token stay; the token is the
// path's last part.
const WEBHOOK_URL =
  /((?:hooks\.slack\.com\/(?:services|workflows|triggers)\/(?:[A-Za-z0-9_]{1,40}\/){1,4})|(?:discord(?:app)?\.com\/api\/(?:v\d{1,2}\/)?webhooks\/\d{5,30}\/))([A-Za-z0-9_-]{16,256})(?![\w/-])/g;

export const URL_SECRET_PATTERNS: readonly PiiPattern[] = [
  {
    name: 'urlSecret',
    regex: URL_PASSWORD,
    needs: { length: 8, colons: 2, at: true },
    hint: (s) => s.includes('://'),
    pick: (_m, g) => ({ prefix: g[1]!, secret: g[2]!, suffix: '' }),
  },
  {
    name: 'urlSecret',
    regex: URL_QUERY_SECRET,
    needs: { length: 20, assign: true },
    hint: hasSecretParameterName,
    pick: (_m, g) => {
      const name = g[1]!;
      const value = g[2]!;
      if (ORDINARY_WORDS.has(name) && (value.length < 20 || !NEEDS_A_DIGIT.test(value))) return null;
      return { prefix: name, secret: value, suffix: '' };
    },
  },
  {
    name: 'urlSecret',
    regex: WEBHOOK_URL,
    needs: { length: 40, dots: 1, letters: lettersOf('hooks.com') },
    hint: (s) => s.includes('hooks'),
    pick: (_m, g) => ({ prefix: g[1]!, secret: g[2]!, suffix: '' }),
  },
];
