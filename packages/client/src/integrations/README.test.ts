import { fileURLToPath } from 'node:url';
import { runReadmeExamples } from '../readmeExamples.test-helpers.js';

runReadmeExamples(fileURLToPath(new URL('./README.md', import.meta.url)), {
  modules: {
    '@homing/client': fileURLToPath(new URL('../index.node.ts', import.meta.url)),
    '@homing/client/integrations': fileURLToPath(new URL('./index.ts', import.meta.url)),
  },
  mustMention: [
    'instrumentExpress(',
    'homingExpress(',
    'homingExpressErrorHandler(',
    'homingFastify',
    'wrapFetch(',
  ],
  exactLines: true,
});
