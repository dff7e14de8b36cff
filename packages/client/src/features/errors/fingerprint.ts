import { normalizeMessage } from './normalizeMessage.js';
import type { ExceptionEntry, StackFrame } from './types.js';

/**
 * The group an error belongs to: its type, its message with the volatile parts normalised, and
 * the top in-app frames (file basename, function, line). The basename rather than the full
 * path keeps one bug one group across machines and deploy directories, and content hashes and
 * UUIDs in it are replaced (see `stableFileName`) so a new build or page load does not split
 * it; the line keeps two bugs with the same message in the same function apart. When no frame is in-app (a
 * library threw with nothing of the app on the stack) the top frames are used instead.
 *
 * The output is 16 hex digits of a 64-bit non-cryptographic hash: collisions among the groups
 * one app produces are negligible, and it has to be synchronous and browser-safe.
 */
export function computeFingerprint(primary: ExceptionEntry, frameCount: number): string {
  const frames = pickFrames(primary.stacktrace.frames, frameCount);
  const parts = [primary.type, normalizeMessage(primary.value)];
  for (const f of frames) parts.push(`${stableFileName(f.file)}|${f.function ?? ''}|${f.line ?? ''}`);
  return hash64(parts.join('\n'));
}

/** A custom fingerprint from the app: its parts joined and hashed the same way. */
export function customFingerprint(parts: string | readonly string[]): string {
  return hash64(`custom\n${typeof parts === 'string' ? parts : parts.join('\n')}`);
}

function pickFrames(frames: readonly StackFrame[], n: number): StackFrame[] {
  const inApp = frames.filter((f) => f.inApp);
  return (inApp.length > 0 ? inApp : frames).slice(0, n);
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/** A dot- or dash-separated part of 8+ hex digits: a bundler's content hash (`main.3f2a1b9c.js`). */
const HASH_PART = /(^|[.-])[0-9a-f]{8,}(?=[.-]|$)/gi;
/**
 * Rollup's and Vite's `[name]-[hash].js`: 8 characters of base64url (which may hold `-` and `_`)
 * after the last dash. Taken for a hash only with a digit and a letter in it, so a name such as
 * `index-settings.js` stays a name; a hash of letters alone (about a quarter of them) is missed.
 */
const ROLLUP_HASH = /-([A-Za-z0-9_-]{8})(\.[cm]?js)$/;

/**
 * A frame's file basename without what changes between builds and page loads of the same code:
 * UUIDs (`blob:` URLs of workers) become `<uuid>` and hex content hashes (`main.3f2a1b9c.js`,
 * `chunk-5f2a9c1d.js`, webpack's `[contenthash]`, Vite's `index-BxK3f9_a.js`) become `<hash>`, so `main.<hash>.js` and
 * `vendor.<hash>.js` stay apart.
 */
function stableFileName(file: string | null): string {
  if (file === null) return '';
  const cut = file.replace(/[?#].*$/, '');
  const i = Math.max(cut.lastIndexOf('/'), cut.lastIndexOf('\\'));
  const base = i >= 0 ? cut.slice(i + 1) : cut;
  return base
    .replace(UUID, '<uuid>')
    .replace(HASH_PART, '$1<hash>')
    .replace(ROLLUP_HASH, (whole, hash: string, ext: string) =>
      /[0-9]/.test(hash) && /[A-Za-z]/.test(hash) ? `-<hash>${ext}` : whole,
    );
}

function hash64(s: string): string {
  // Two FNV-1a lanes, cross-mixed, then murmur3's finaliser on each.
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 15);
  }
  return hex(fmix(h1 ^ h2)) + hex(fmix(h2 + h1));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
