/**
 * The user name in a home directory's path (pattern `homePath`): `/home/alice/…` (Linux),
 * `/Users/alice/…` (macOS), `C:\Users\alice\…` (Windows, also `C:/Users/`, `c:\users\`, and
 * `C:\\Users\\` as JSON escapes it). A CLI's working directory, a file an error names, every frame
 * of a stack trace carry it, and it is often the person's name. Only the name is replaced
 * (`/home/[REDACTED]/projects/app/src/index.ts`), so the rest of the path still says where; the
 * same pass runs on `$exception_list` frames' files, messages and breadcrumbs, so a path is
 * written one way wherever it appears.
 *
 * Not taken: a path under another directory (`/srv/home/x`, `./home/x`), a URL's path
 * (`https://example.com/home/feed`: a host before it), a route in lower case (`/users/42`), and
 * the profiles that are nobody's (`/Users/Shared`, `C:\Users\Public`, `Default`, `All Users`).
 * A bare route `/home/<page>/…` written without its origin is taken for a path.
 */
import type { PiiPattern } from './piiPatterns.js';
import { lettersOf } from './stringProfile.js';

// A Unix name has no spaces; a Windows profile's may (`C:\Users\Jane Doe\`), taken with its
// spaces only when a separator follows it, so that the words after `C:\Users\alice is …` stay.
// The name must end at a separator, so `/home/feed?tab=2` (a route with a query) is not taken.
const HOME_PATH =
  /(?<![\w.\]~-])(?:(\/home\/|\/Users\/)([^\s/\\"'`:;,()[\]<>?#*|]{1,64})|([A-Za-z]:(?:\\{1,2}|\/)(?:Users|users|USERS)(?:\\{1,2}|\/))([^\s/\\"'`:;,()[\]<>?#*|]{1,64}(?:(?: [^\s/\\"'`:;,()[\]<>?#*|]{1,64}){1,3}(?=[\\/]))?))(?=[\\/"'`\s:;,)\]>]|$)/g;

// One native scan for the three spellings (four `includes` cost twice as much on long strings).
const HOME_PATH_HINT = /\/home\/|sers[\\/]|SERS/;

const NOBODYS_PROFILES = new Set(['shared', 'public', 'default', 'default user', 'all users', 'guest']);

export const HOME_PATH_PATTERN: PiiPattern = {
  name: 'homePath',
  regex: HOME_PATH,
  needs: { length: 7, letters: lettersOf('e') },
  hint: (s) => HOME_PATH_HINT.test(s),
  pick: (_m, g) => {
    const name = g[2] ?? g[4]!;
    if (NOBODYS_PROFILES.has(name.toLowerCase())) return null;
    return { prefix: g[1] ?? g[3]!, secret: name, suffix: '' };
  },
};
