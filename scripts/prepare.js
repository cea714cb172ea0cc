// npm's prepare step: builds dist/ with the TypeScript compiler, which only `npm ci` / `npm install` in this
// folder bring (it is a devDependency). `npm install -g .` on a fresh clone runs this before that: say what to do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname;
if (!existsSync(tsc)) {
  if (existsSync(new URL('../dist/cli/main.js', import.meta.url).pathname)) process.exit(0);
  console.error('sft: the TypeScript compiler is not installed here. From the clone, run `npm ci` first (it builds sft), then `npm install -g .`');
  process.exit(1);
}
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit', cwd: new URL('..', import.meta.url).pathname });
process.exit(result.status ?? 1);
