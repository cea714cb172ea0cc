/**
 * Outside tools some tests need (the age CLI, Python's cryptography, tmux, ...). On a machine without one, its
 * tests are skipped and say so loudly; `.ci/run` installs every tool and sets SFT_REQUIRE_TOOLS=1, which turns a
 * missing tool into a failure, so that CI never passes on skipped checks.
 */
import { spawnSync } from 'node:child_process';

/** True when `check` (a shell command) succeeds. */
function works(check: string): boolean {
  return spawnSync('sh', ['-c', `${check} >/dev/null 2>&1`]).status === 0;
}

/**
 * Whether `tool` is here (per the shell command `check`, by default `command -v tool`). When it is not: a SKIPPED
 * warning naming `what` will not run, or with SFT_REQUIRE_TOOLS=1 an error that fails the test file.
 */
export function have(tool: string, what: string, check = `command -v ${tool}`): boolean {
  if (works(check)) return true;
  if (process.env.SFT_REQUIRE_TOOLS === '1') throw new Error(`${tool} is required (SFT_REQUIRE_TOOLS=1) for ${what}, and it is not installed`);
  console.warn(`SKIPPED: ${what}: ${tool} is not installed (.ci/run installs it)`);
  return false;
}

/**
 * The command prefix that runs the CLI at `cli` as the unprivileged user nobody (setpriv, as root), or undefined
 * with a SKIPPED warning naming `what` when this process is not root, or when nobody cannot read `cli` (a checkout
 * under a directory closed to others, such as one made by mktemp -d). A missing setpriv is a missing tool (have()).
 */
export function asNobody(what: string, cli: string): string[] | undefined {
  if (process.getuid?.() !== 0) {
    console.warn(`SKIPPED: ${what}: needs root, to run the CLI as the user nobody`);
    return undefined;
  }
  if (!have('setpriv', what)) return undefined;
  const prefix = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  if (spawnSync(prefix[0] as string, [...prefix.slice(1), 'test', '-r', cli]).status !== 0) {
    console.warn(`SKIPPED: ${what}: the user nobody cannot read ${cli} (a parent directory is closed to others)`);
    return undefined;
  }
  return prefix;
}
