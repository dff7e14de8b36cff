// Pattern redaction cost per event: Homing's createPatternRedactor against two straightforward
// designs measured in the same run: a regex per pattern run on every string of the event
// (same coverage as Homing), and the seed design 003's shape (stringify the event, run its
// four patterns over the JSON text, parse it back).
import { createPatternRedactor } from '../../packages/client/dist/pipeline/redactPatterns.js';
import { nsPerSyncCall } from '../lib/report.js';

export const title = '@homing/client: pattern redaction cost per event (ns)';
export const notes = [
  'A typical event: 10 properties (path, button, count, version, os, duration, flag, locale,',
  'session uuid, plan) and a small nested object; "with PII" puts an email, a phone number, an IPv4',
  'address and a card number in four of its strings; "long strings" carries a URL with a query, a',
  'file path, a stack-like error message and a user agent, over 96 characters each (the length the',
  'redactor remembers clean strings up to), so every one is scanned on every event, and no PII.',
  'Each figure is the median ns per redaction of one event (the default redactor: every built-in',
  'pattern, `[REDACTED]`).',
  'Competitor "regex per pattern": the same ten kinds of PII as plain global regexes (Luhn checked',
  'in the card callback), every regex run over every string value of a deep copy of the event.',
  'Competitor "seed 003": JSON.stringify, its four patterns (email, SSN, card, phone) replaced in',
  'the JSON text, JSON.parse: fewer patterns, and it rewrites the whole event each time.',
].join('\n');

const uuid = '01890a5d-ac96-774b-bcce-b302099a8057';

function typicalEvent(i) {
  return {
    path: '/settings/profile',
    button: 'save',
    count: i & 7,
    version: '1.2.3',
    os: 'linux',
    durationMs: 123.4,
    ok: true,
    locale: 'en-US',
    $session_id: uuid,
    plan: 'pro',
    screen: { width: 1920, height: 1080, dpr: '2x' },
  };
}

function eventWithPii(i) {
  return {
    path: '/settings/profile',
    button: 'save',
    count: i & 7,
    version: '1.2.3',
    contact: 'jane.doe@example.com',
    phone: '+1 (415) 555-1234',
    ip: '203.0.113.42',
    note: 'paid with 4111 1111 1111 1111',
    $session_id: uuid,
    plan: 'pro',
    screen: { width: 1920, height: 1080, dpr: '2x' },
  };
}

// Strings longer than the clean-string memo keeps (96 characters), as URLs, paths and messages
// often are: each is profiled and run through the patterns its characters allow, every time.
function eventWithLongStrings(i) {
  return {
    url: `https://app.example.com/settings/profile/notifications?tab=email&page=${i}&sort=created_at&order=desc&utm_source=newsletter`,
    file: `/srv/app/releases/2026-12-05T21-10-09Z/node_modules/@example/orders/dist/handlers/checkout-${i}.js`,
    message: `GET /api/v1/orders/${i}/items failed after 3 retries: ECONNRESET (socket hang up) at TLSSocket.onConnectEnd`,
    agent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    count: i & 7,
    $session_id: uuid,
  };
}

// --- competitor: a regex per pattern over every string -------------------------------------
const NAIVE = [
  /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]*/g,
  /\b[Bb]earer\s+[\w~+/.-]+=*/g,
  /\b(?:api[_-]?key|access[_-]?token|secret|password|token)\s*[=:]\s*[^\s&,;"']+/gi,
  /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]+|\bgh[pousr]_[A-Za-z0-9]{30,}|\b(?:AKIA|ASIA)[A-Z0-9]{16}|\bxox[abprs]-[A-Za-z0-9-]+|\bAIza[\w-]{35}|\bph[cx]_[A-Za-z0-9]{20,}/g,
  /[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}/g,
  /\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}\b/g,
  /\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b/g,
  /\b\d(?:[ -]?\d){12,18}\b/g,
  /\b\d{3}-\d{2}-\d{4}\b/g,
  /\+\d(?:[ ().-]{0,2}\d){6,14}|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b/g,
];
const CARD_INDEX = 7;

function luhn(digits) {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function naiveString(s) {
  let out = s;
  for (let i = 0; i < NAIVE.length; i++) {
    out =
      i === CARD_INDEX
        ? out.replace(NAIVE[i], (m) => (luhn(m.replace(/[ -]/g, '')) ? '[REDACTED]' : m))
        : out.replace(NAIVE[i], '[REDACTED]');
  }
  return out;
}

function naiveRedact(v) {
  if (typeof v === 'string') return naiveString(v);
  if (Array.isArray(v)) return v.map(naiveRedact);
  if (v !== null && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v)) out[k] = naiveRedact(v[k]);
    return out;
  }
  return v;
}

// --- competitor: seed 003's shape (stringify, four patterns, parse) --------------------------
const SEED = [
  /[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}/g,
  /\b\d{3}-\d{2}-\d{4}\b/g,
  /\b(?:\d[ -]*?){13,16}\b/g,
  /\b\d{3}[-.]?\d{3}[-.]?\d{4}\b/g,
];

function seedRedact(v) {
  let text = JSON.stringify(v);
  for (const re of SEED) text = text.replace(re, '[REDACTED]');
  return JSON.parse(text);
}

export async function run() {
  const homing = createPatternRedactor();
  const events = Array.from({ length: 64 }, (_, i) => typicalEvent(i));
  const piiEvents = Array.from({ length: 64 }, (_, i) => eventWithPii(i));
  const longEvents = Array.from({ length: 64 }, (_, i) => eventWithLongStrings(i));
  // Every redactor must do the job before it is timed.
  for (const r of [homing, naiveRedact]) {
    const out = JSON.stringify(r(piiEvents[0]));
    if (/jane|415|203\.0|4111/.test(out)) throw new Error(`a redactor missed PII: ${out}`);
    if (JSON.stringify(r(events[0])) !== JSON.stringify(events[0]))
      throw new Error('a redactor changed a clean event');
  }
  if (JSON.stringify(homing(longEvents[0])) !== JSON.stringify(longEvents[0]))
    throw new Error('Homing changed an event of long strings without PII');

  const opts = { warmup: 50_000, batch: 50_000, rounds: 11 };
  let sink = 0;
  const measure = (fn, list) =>
    nsPerSyncCall((i) => {
      const out = fn(list[i & 63]);
      if (out !== null) sink++;
    }, opts);

  const rows = [];
  const cases = [
    ['a clean event (10 properties)', events],
    ['an event with PII (4 of 10 strings)', piiEvents],
    ['an event of long strings (4 of 6, no PII)', longEvents],
  ];
  for (const [label, list] of cases) {
    const h = measure(homing, list);
    const naive = measure(naiveRedact, list);
    const seed = measure(seedRedact, list);
    rows.push({
      work: `redact ${label}`,
      homing: h,
      competitor: 'regex per pattern per string',
      competitorValue: naive,
      unit: 'ns/event',
      better: 'lower',
      goal: '≤ 3 µs/event',
    });
    rows.push({
      work: `redact ${label}`,
      homing: h,
      competitor: 'seed 003 (stringify, 4 patterns, parse)',
      competitorValue: seed,
      unit: 'ns/event',
      better: 'lower',
      goal: '≤ 3 µs/event',
    });
  }
  if (sink === 0) throw new Error('unreachable');
  return rows;
}
