import { fileURLToPath } from 'node:url';
import { runReadmeExamples } from '../performance/readmeExamples.test-helpers.js';

runReadmeExamples(
  fileURLToPath(new URL('./README.md', import.meta.url)),
  fileURLToPath(new URL('./index.ts', import.meta.url)),
  ['createHealthReporter(', '.registerService(', '.getHealthReport(', '.isHealthy(', 'deliveryStats'],
);
