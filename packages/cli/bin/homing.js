#!/usr/bin/env node
// The `homing` command. This file is committed, so npm links it when it installs, before the
// workspace's `prepare` has built dist/ (a bin pointing into dist/ was not linked then).
const entry = new URL('../dist/bin.js', import.meta.url);
try {
  await import(entry.href);
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(entry.pathname)) {
    console.error('homing is not built yet: run `npm run build` at the repository root, then try again.');
    process.exit(1);
  }
  throw error;
}
