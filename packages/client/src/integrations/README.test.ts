import { fileURLToPath } from 'node:url';
import { runIntegrationReadmeExamples } from './readmeExamples.test-helpers.js';

runIntegrationReadmeExamples(fileURLToPath(new URL('./README.md', import.meta.url)), [
  'homingExpress(',
  'homingExpressErrorHandler(',
  'homingFastify',
  'wrapFetch(',
]);
