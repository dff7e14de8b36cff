import { fileURLToPath } from 'node:url';
import { runReadmeExamples } from '../../readmeExamples.test-helpers.js';

runReadmeExamples(fileURLToPath(new URL('./README.md', import.meta.url)), {
  modules: { '@homing/client': fileURLToPath(new URL('./index.ts', import.meta.url)) },
  mustMention: [
    'createHealthReporter(',
    '.registerService(',
    '.getHealthReport(',
    '.isHealthy(',
    'deliveryStats',
  ],
});
