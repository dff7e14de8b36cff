// `node --import ./recordLoadedModules.mjs …` with HOMING_TEST_LOADED_MODULES=FILE: every module
// the process resolves is written to FILE, one URL a line (see loadedModulesHooks.mjs).
import { register } from 'node:module';

register('./loadedModulesHooks.mjs', import.meta.url, {
  data: { file: process.env.HOMING_TEST_LOADED_MODULES },
});
