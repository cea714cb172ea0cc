/**
 * Mutation testing (issue 13, docs/TESTING.md). `npm run mutate` (scripts/mutate.js) runs Stryker one directory at a
 * time, each with the tests that exercise it directly; `npx stryker run` alone mutates the whole scope below against
 * the whole mutation suite (slow). Results of the mutants outside a run's `--mutate` are kept in the incremental file,
 * so per-directory runs add up to the whole report, and a later run re-tests only what changed.
 *
 * Scope: the code that enforces a security property (crypto, the at-rest formats, the wire protocol, and the parts of
 * the transfer that authenticate, verify, confine paths and admit connections). Not the CLI, not the relay.
 * src/transfer/file-worker.ts is mutated except `workerMain`, whose text becomes a worker thread (Stryker's
 * instrumentation cannot run there): it sits in a `Stryker disable all` region.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  // The suite less the families that run sft from dist/ in child processes, or the load tests (see that file).
  vitest: { configFile: 'vitest.mutate.config.ts' },
  mutate: [
    'src/crypto/**/*.ts',
    'src/rest/**/*.ts',
    'src/protocol/**/*.ts',
    'src/transfer/{server,client,sender,receiver,session,connection,store,partials,paths,admission,remote-files,file-worker}.ts',
  ],
  coverageAnalysis: 'perTest',
  // A static mutant (a module-level constant: a frame cap, a limit, a label) is evaluated once at import, so it needs
  // the whole suite per mutant: 12% of crypto's mutants took over half its run time. They are left out of the score
  // (reported as ignored); the behavioural tests check the constants that are limits (docs/TESTING.md).
  ignoreStatic: true,
  // The machine has 2 cores shared with other work: one test runner.
  concurrency: 1,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  // Loopback transfers vary in time on a busy machine: a mutant is a timeout only well past its tests' time.
  timeoutFactor: 2,
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 30,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { reportTests: false, reportMutants: true, logTests: false },
  ignorePatterns: ['bench/.work', 'reports'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
