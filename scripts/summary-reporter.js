// A Vitest reporter that ends the run with one plain line, "Tests: N passed, N failed, N skipped",
// which CI reads whatever the runner's own summary looks like.
export default class SummaryReporter {
  passed = 0;
  failed = 0;
  skipped = 0;

  onTestCaseResult(testCase) {
    const state = testCase.result().state;
    if (state === 'passed') this.passed++;
    else if (state === 'failed') this.failed++;
    else this.skipped++;
  }

  onTestRunEnd(modules, unhandledErrors) {
    // A file that fails outside its tests (a beforeAll that throws, an import that fails)
    // reports its tests as skipped: its errors count as failures, or this line says 0 failed
    // while the run fails.
    let fileErrors = 0;
    for (const m of modules ?? []) fileErrors += m.errors?.().length ?? 0;
    const failed = this.failed + fileErrors + (unhandledErrors?.length ?? 0);
    process.stdout.write(`\nTests: ${this.passed} passed, ${failed} failed, ${this.skipped} skipped\n`);
  }
}
