// Encryption at rest, beside the age CLI on the same file in the same run (issue 8 goal 5, issue 11).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { have, measured } from '../lib/proc.js';
import { GiB, MiB, makeFile, sizeLabel } from '../lib/files.js';
import { alternate, clientSide } from '../lib/rounds.js';

/** Cases for alternate(): each command under measure.py, `before` removing its output first. */
const cases = (ctx, size, commands) => commands.map(({ name, command, pty = false, before }) => ({
  name,
  size,
  run: async () => {
    before();
    const run = await measured(command, { env: ctx.env, pty, timeoutSeconds: ctx.timeout(size) });
    return { seconds: run.seconds, client: clientSide(run) };
  },
}));

/**
 * Passphrase (scrypt work factor 18 on both sides), X25519 keys, the Fernet container's memory, and a 4 GiB pipe
 * through sft encrypt -r | sft decrypt -i; on the real disk (the bench's work directory; --tmpfs for /dev/shm).
 */
export async function fileBench(ctx) {
  const size = ctx.quick ? 256 * MiB : GiB;
  const dir = join(ctx.work, 'file');
  mkdirSync(dir, { recursive: true });
  const at = (name) => join(dir, name);
  const rm = (...names) => () => names.forEach((n) => rmSync(at(n), { force: true }));
  const sft = ctx.sft;
  const section = ctx.results.section(`File encryption: sft vs the age CLI, ${sizeLabel(size)}`, `Files in ${dir}, ${ctx.runs.toLowerCase()}; CPU is user + sys.`);
  /** Prints `m`; with a chart `group`, draws it too (under its name without the parenthesis). */
  const show = (group) => (m) => {
    section.measurement(m);
    if (group !== undefined && m.seconds !== undefined) section.bar(`${group}, ${sizeLabel(size)}`, m.name.replace(/ \(.*\)$/, ''), size / MiB / m.seconds);
  };
  try {
    makeFile(at('input.bin'), size);
    const haveAge = have('age') && have('age-keygen');
    if (!haveAge) section.line('age CLI not installed: the comparisons below are skipped');

    // Passphrase: scrypt work factor 18 on both sides.
    const encrypt = [{ name: 'sft encrypt (age format, passphrase)', command: ['node', sft, 'encrypt', '--json', at('input.bin'), '-o', at('s.age')], before: rm('s.age') }];
    if (haveAge) encrypt.push({ name: 'age -p', command: ['age', '-p', '-o', at('a.age'), at('input.bin')], pty: true, before: rm('a.age') });
    const [sEnc, aEnc] = await alternate(cases(ctx, size, encrypt), ctx.repeat);
    const decrypt = [{ name: 'sft decrypt (age format, passphrase)', command: ['node', sft, 'decrypt', '--json', at('s.age'), '-o', at('s.out')], before: rm('s.out') }];
    if (haveAge) decrypt.push({ name: 'age -d (passphrase)', command: ['age', '-d', '-o', at('a.out'), at('a.age')], pty: true, before: rm('a.out') });
    const [sDec, aDec] = await alternate(cases(ctx, size, decrypt), ctx.repeat);
    [sEnc, aEnc, sDec, aDec].filter(Boolean).forEach(show('at rest, passphrase (age format)'));
    rm('s.age', 'a.age', 's.out', 'a.out')();

    // X25519 keys, each tool's own.
    execFileSync('node', [sft, 'keygen', '-o', at('sft.key')], { stdio: 'ignore' });
    const sRecipient = execFileSync('node', [sft, 'keygen', '-y', at('sft.key')]).toString().trim();
    const keyed = [{ name: 'sft encrypt -r (X25519)', command: ['node', sft, 'encrypt', '--json', '-r', sRecipient, at('input.bin'), '-o', at('s.age')], before: rm('s.age') }];
    const opened = [{ name: 'sft decrypt -i (X25519)', command: ['node', sft, 'decrypt', '--json', '-i', at('sft.key'), at('s.age'), '-o', at('s.out')], before: rm('s.out') }];
    if (haveAge) {
      execFileSync('age-keygen', ['-o', at('age.key')], { stdio: 'ignore' });
      const aRecipient = execFileSync('age-keygen', ['-y', at('age.key')]).toString().trim();
      keyed.push({ name: 'age -r (X25519)', command: ['age', '-r', aRecipient, '-o', at('a.age'), at('input.bin')], before: rm('a.age') });
      opened.push({ name: 'age -d -i (X25519)', command: ['age', '-d', '-i', at('age.key'), '-o', at('a.out'), at('a.age')], before: rm('a.out') });
    }
    const [sKeyEnc, aKeyEnc] = await alternate(cases(ctx, size, keyed), ctx.repeat);
    const [sKeyDec, aKeyDec] = await alternate(cases(ctx, size, opened), ctx.repeat);
    [sKeyEnc, aKeyEnc, sKeyDec, aKeyDec].filter(Boolean).forEach(show('at rest, X25519 keys'));
    rm('s.age', 'a.age', 's.out', 'a.out')();

    if (haveAge) {
      const cpu = (m) => m.client?.cpu;
      const rss = (m) => m.client?.rssMiB;
      const goal = (what, ours, theirs, unit = 's') => section.compare({ what, ours, theirs, peer: 'age', unit, goal: 1 });
      goal('passphrase encrypt, wall time', sEnc.seconds, aEnc.seconds);
      goal('passphrase encrypt, CPU (user + sys)', cpu(sEnc), cpu(aEnc));
      goal('passphrase encrypt, peak RSS', rss(sEnc), rss(aEnc), 'MiB');
      goal('passphrase decrypt, wall time', sDec.seconds, aDec.seconds);
      goal('passphrase decrypt, CPU (user + sys)', cpu(sDec), cpu(aDec));
      goal('passphrase decrypt, peak RSS', rss(sDec), rss(aDec), 'MiB');
      goal('X25519 encrypt, wall time', sKeyEnc.seconds, aKeyEnc.seconds);
      goal('X25519 decrypt, wall time', sKeyDec.seconds, aKeyDec.seconds);
    }

    // The Fernet container: peak RSS under 100 MiB (issue 8 goal 4), no forced garbage collection.
    const [fEnc] = await alternate(cases(ctx, size, [{ name: 'sft encrypt --format fernet', command: ['node', sft, 'encrypt', '--json', at('input.bin'), '--format', 'fernet', '-o', at('s.fernet')], before: rm('s.fernet') }]), 1);
    const [fDec] = await alternate(cases(ctx, size, [{ name: 'sft decrypt (fernet format)', command: ['node', sft, 'decrypt', '--json', at('s.fernet'), '-o', at('f.out')], before: rm('f.out') }]), 1);
    [fEnc, fDec].forEach(show());
    section.limit({ what: 'fernet encrypt / decrypt, peak RSS', value: Math.max(fEnc.client?.rssMiB ?? NaN, fDec.client?.rssMiB ?? NaN), max: 100 });
    rm('s.fernet', 'f.out')();

    // A tar-like stream: 4 GiB through a pipe, never on disk; the peak RSS is the larger of the two sft processes.
    const times = ctx.quick ? 1 : Math.ceil((4 * GiB) / size);
    const cat = Array.from({ length: times }, () => `'${at('input.bin')}'`).join(' ');
    const pipe = `cat ${cat} | node '${sft}' encrypt -r ${sRecipient} | node '${sft}' decrypt -i '${at('sft.key')}' > /dev/null`;
    const [piped] = await alternate(cases(ctx, times * size, [{ name: 'cat | sft encrypt -r | sft decrypt -i (pipe)', command: ['bash', '-o', 'pipefail', '-c', pipe], before: () => undefined }]), 1);
    section.measurement(piped);
    section.line(`pipe of ${sizeLabel(times * size)}: peak RSS ${piped.client?.rssMiB.toFixed(0)} MiB (flat: the same as for the files above)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
