/**
 * The test run Stryker uses for mutation testing (`npm run mutate`): the normal suite without the families that
 * cannot kill a mutant or would dominate the run. Stryker mutates the sources in its own process; these run sft from
 * dist/ (never mutated) in child processes, or are load tests whose every covered mutant would re-run them:
 * - test/transfer/resume.test.ts: SIGKILLs `sft send` processes 20 times (75 s, a third of the whole suite); the
 *   resume logic it drives is also covered in-process by hostile.test.ts (cuts, a tampered chunk) and transfer tests;
 * - test/stress/: connection floods and idle peers bounded by time, not by assertions on the mutated code;
 * - test/cli/terminal.test.ts, at-rest-process.test.ts: sft from dist/ under a pseudo-terminal, tmux or signals;
 * - test/relay/load.test.ts: 50 relay rooms at once (the relay is not in the mutated scope).
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      // A mutant that makes a peer wait for ever fails its test here rather than at the suite's 60 s (no test of
      // this set takes more than 10 s unmutated; one that needs more says so itself).
      testTimeout: 20_000,
      exclude: [
        '**/node_modules/**',
        'test/transfer/resume.test.ts',
        'test/stress/**',
        'test/cli/terminal.test.ts',
        'test/cli/at-rest-process.test.ts',
        'test/relay/load.test.ts',
      ],
    },
  }),
);
