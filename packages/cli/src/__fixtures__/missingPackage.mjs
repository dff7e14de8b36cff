// `node --import ./missingPackage.mjs …` with HOMING_TEST_MISSING_PACKAGE=NAME: importing NAME
// fails as in an install that lacks it (see missingPackageHooks.mjs).
import { register } from 'node:module';

register('./missingPackageHooks.mjs', import.meta.url, {
  data: { missing: process.env.HOMING_TEST_MISSING_PACKAGE },
});
