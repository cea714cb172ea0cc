// npm run demo: encrypts a generated file in both formats, decrypts it, and shows the checks.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureFileTransfer } from '../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sft-demo-'));
const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
try {
  const input = join(dir, 'report.bin');
  writeFileSync(input, randomBytes(8 * 1024 * 1024));
  const password = 'demo-' + randomBytes(9).toString('base64url');
  console.log(`generated ${input} (8 MiB), sha-256 ${sha(input)}`);
  for (const format of ['age', 'fernet']) {
    const sealed = `${input}.${format}`;
    const opened = join(dir, `decrypted-${format}.bin`);
    await SecureFileTransfer.encryptFile(input, sealed, { password, format });
    const result = await SecureFileTransfer.decryptFile(sealed, opened, { password });
    const same = sha(opened) === sha(input);
    console.log(`${format.padEnd(6)} encrypted -> ${sealed}; decrypted ${result.size} bytes; sha-256 ${same ? 'matches' : 'DIFFERS'}`);
    if (!same) process.exit(1);
  }
  const tampered = readFileSync(`${input}.fernet`);
  tampered[tampered.length - 100] ^= 1;
  writeFileSync(`${input}.fernet`, tampered);
  await SecureFileTransfer.decryptFile(`${input}.fernet`, join(dir, 'never.bin'), { password }).then(
    () => process.exit(1),
    (error) => console.log(`tampered fernet file rejected: ${error.code}: ${error.message}`),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
