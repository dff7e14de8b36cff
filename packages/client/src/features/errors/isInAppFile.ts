/**
 * Whether a frame's file is the app's own code. Library code (node_modules, a bundler's
 * runtime), the runtime's internals and browser extensions are not: grouping looks at in-app
 * frames so a bug is named after the app line that hit it, not the library line that threw.
 */
export function isInAppFile(file: string | null): boolean {
  if (file === null || file === '') return false;
  if (file.startsWith('node:') || file.startsWith('internal/')) return false;
  if (file.includes('/node_modules/') || file.includes('\\node_modules\\')) return false;
  if (file.startsWith('webpack://') && file.includes('/webpack/')) return false; // bundler runtime
  if (/^(?:chrome|moz|safari(?:-web)?)-extension:\/\//.test(file)) return false;
  if (file === '[native code]' || file === 'native' || file === '<anonymous>') return false;
  return true;
}
