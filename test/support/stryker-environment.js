// The test environment of mutation runs (stryker.config.mjs), under Stryker's own. Stryker notes which test covers
// which code from jest's test_start and test_done events, but a skipped test (the drift tests that mutation runs
// leave out by name) has test_start without test_done: the code that runs next, such as the next file's imports,
// would be taken for that skipped test's. Here a skipped test ends as a run one would.
'use strict';
const { TestEnvironment } = require('jest-environment-node');

class StrykerSkipAwareEnvironment extends TestEnvironment {
  async handleTestEvent(event) {
    if (event.name === 'test_skip' || event.name === 'test_todo') {
      const context = this.global[this.global.__strykerGlobalNamespace__ ?? '__stryker__'];
      if (context) context.currentTestId = undefined;
    }
  }
}

module.exports = StrykerSkipAwareEnvironment;
