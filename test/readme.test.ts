/**
 * Every code block of the README runs, as a reader would run it (the project's rule: docs that do not run are
 * bugs). ```sh blocks after the quick start run one after the other in one scratch directory (the later ones use
 * files the earlier ones made), with `sft` on PATH as `npm install -g .` would put it, under `bash -e -o pipefail`:
 * any failing command (`cmp` included) fails the test. ```js blocks run with `from 'sft'` pointing at dist/.
 * ```text blocks are not commands (the install block needs a clone URL).
 *
 * The quick-start block is checked, not run: `npm ci && npm test` is this very run. Its demo part runs.
 * The sh blocks listen on the ports the README names (7878-7880); a port taken by something else fails the test
 * with that reason. `sleep 1` after starting a server also waits, up to 30 s, for the port to accept, so that a
 * loaded CI machine does not turn a slow start into a failure.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function blocks(language: string): string[] {
  return [...README.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === language).map((m) => m[2] ?? '');
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer().once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

const PRELUDE = `
trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT
sleep() {
  command sleep "$@"
  for port in $README_PORTS; do
    for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; command sleep 0.1; done
  done
}
`;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('README', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sft-readme-'));
    const bin = join(dir, '.bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'sft'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist', 'cli', 'main.js')}" "$@"\n`);
    chmodSync(join(bin, 'sft'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HOME: dir, NO_COLOR: '1' };
    delete env.SFT_PASSWORD;
    delete env.SFT_RELAY;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('quick start is the two commands a newcomer runs, and the demo works', () => {
    expect(blocks('sh')[0]).toMatch(/^npm ci && npm run demo .*\nnpm ci && npm test .*\n$/);
    const demo = run(process.execPath, [join(ROOT, 'scripts', 'demo.js')], dir, env);
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stdout + demo.stderr).toMatch(/verification: stored file sha-256 [0-9a-f]{64} matches the original/);
  });

  it.each(blocks('sh').slice(1).map((text, i) => [i + 1, text] as const))('sh block %i runs', async (_index, text) => {
    const ports = [...text.matchAll(/--port (\d+)/g)].map((m) => Number(m[1]));
    for (const port of ports) expect(await portFree(port), `port ${port} is taken by another program`).toBe(true);
    const result = run('bash', ['-e', '-o', 'pipefail', '-c', PRELUDE + text], dir, { ...env, README_PORTS: ports.join(' ') });
    expect(result.status, `${text}\n--- stderr:\n${result.stderr}`).toBe(0);
  });

  it('sh blocks left what they say', () => {
    for (const path of ['inbox/photos/cat.jpg', 'inbox/photos/empty', 'copy/cat.jpg', 'homes/alice', 'received/report.txt', 'plans.txt.age', 'plans.pw.out']) {
      expect(existsSync(join(dir, path)), path).toBe(true);
    }
    expect(existsSync(join(dir, 'homes/alice/docs/notes.txt')), 'sft rm removed it').toBe(false);
    for (const done of ['copy', 'received']) expect(existsSync(join(dir, done, '.sft-partial')), `${done}: nothing to resume`).toBe(false);
    expect(readFileSync(join(dir, 'accounts.json'), 'utf8')).not.toContain('alice-has-her-own-password-77');
  });

  it.each(blocks('js').map((text, i) => [i, text] as const))('js block %i runs', (index, text) => {
    const file = join(dir, `example-${index}.mjs`);
    writeFileSync(file, text.replaceAll("from 'sft'", `from '${pathToFileURL(join(ROOT, 'dist', 'index.js')).href}'`));
    const result = run(process.execPath, [file], dir, env);
    expect(result.status, result.stderr).toBe(0);
    const expected = [
      ['data', /^stored report\.pdf [0-9a-f]{64}$/m, /^true \[/m, 'quarterly numbers'],
      ['true'],
    ][index] ?? [];
    expect(expected.length, 'each js block has its expected output listed here').toBeGreaterThan(0);
    for (const line of expected) expect(result.stdout).toMatch(line);
  });
});
