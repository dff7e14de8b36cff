// `node --import ./register-cached-ts.mjs child.ts`: see cached-ts-hooks.mjs.
import { register } from 'node:module';

register('./cached-ts-hooks.mjs', import.meta.url);
