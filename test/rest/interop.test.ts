import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decrypter, Encrypter, armor as typageArmor, generateHybridIdentity, generateX25519Identity, identityToRecipient as typageRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { decryptFile, encryptFile } from '../../src/rest/files.js';
import { generateIdentity, identityToRecipient } from '../../src/rest/keys.js';
import { pseudoRandomBytes, tempDir } from '../helpers.js';
import { have } from '../tools.js';

const haveAge = have('age', 'the age CLI interop tests', 'command -v age && command -v age-keygen');
const haveSshKeygen = have('ssh-keygen', 'the ssh-ed25519 / ssh-rsa interop tests with the age CLI');

const data = pseudoRandomBytes(3 * 65536 + 17, 21);

describe('interop with age-encryption (typage), always', () => {
  for (const kind of ['X25519', 'hybrid']) {
    it(`${kind}: typage decrypts what we write, we decrypt what typage writes`, async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'p'), data);
      // Our key, typage encrypts and decrypts with it; typage's key, we do.
      const ours = generateIdentity({ postQuantum: kind === 'hybrid' });
      const theirs = kind === 'hybrid' ? await generateHybridIdentity() : await generateX25519Identity();
      expect(identityToRecipient(theirs)).toBe(await typageRecipient(theirs));
      expect(await typageRecipient(ours)).toBe(identityToRecipient(ours));

      await encryptFile(join(dir, 'p'), join(dir, 'ours.age'), { recipients: [identityToRecipient(ours), await typageRecipient(theirs)] });
      const d = new Decrypter();
      d.addIdentity(theirs);
      expect(Buffer.from(await d.decrypt(readFileSync(join(dir, 'ours.age')))).equals(data)).toBe(true);

      const e = new Encrypter();
      e.addRecipient(identityToRecipient(ours));
      writeFileSync(join(dir, 'theirs.age'), typageArmor.encode(await e.encrypt(data)));
      await decryptFile(join(dir, 'theirs.age'), join(dir, 'out'), { identities: [ours] });
      expect(readFileSync(join(dir, 'out')).equals(data)).toBe(true);
    });
  }

  it('a file typage wrote to a hybrid and a classic recipient (sft refuses to write one) decrypts with either key', async () => {
    const dir = tempDir();
    const keys = [generateIdentity(), generateIdentity({ postQuantum: true })];
    const e = new Encrypter();
    for (const key of keys) e.addRecipient(identityToRecipient(key));
    writeFileSync(join(dir, 'mixed.age'), await e.encrypt(data));
    for (const [i, key] of keys.entries()) {
      await decryptFile(join(dir, 'mixed.age'), join(dir, `out${i}`), { identities: [key] });
      expect(readFileSync(join(dir, `out${i}`)).equals(data)).toBe(true);
    }
  });

  it('armor: typage reads ours', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p'), data);
    const key = generateIdentity();
    await encryptFile(join(dir, 'p'), join(dir, 'a.age'), { recipients: [identityToRecipient(key)], armor: true });
    const d = new Decrypter();
    d.addIdentity(key);
    expect(Buffer.from(await d.decrypt(typageArmor.decode(readFileSync(join(dir, 'a.age'), 'latin1')))).equals(data)).toBe(true);
  });

  it('scrypt: typage reads ours', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p'), data);
    await encryptFile(join(dir, 'p'), join(dir, 's.age'), { password: 'pass phrase', workFactor: 10 });
    const d = new Decrypter();
    d.addPassphrase('pass phrase');
    expect(Buffer.from(await d.decrypt(readFileSync(join(dir, 's.age')))).equals(data)).toBe(true);
  });
});

describe.skipIf(!haveAge)('interop with the age CLI', () => {
  it('X25519 and armor: age-keygen keys both ways', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p'), data);
    execFileSync('age-keygen', ['-o', join(dir, 'key.txt')], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', join(dir, 'key.txt')]).toString().trim();
    for (const armor of [false, true]) {
      await encryptFile(join(dir, 'p'), join(dir, `ours${armor}`), { recipients: [recipient], armor });
      expect(execFileSync('age', ['-d', '-i', join(dir, 'key.txt'), join(dir, `ours${armor}`)]).equals(data)).toBe(true);
      execFileSync('age', ['-r', recipient, ...(armor ? ['-a'] : []), '-o', join(dir, `theirs${armor}`), join(dir, 'p')]);
      await decryptFile(join(dir, `theirs${armor}`), join(dir, `out${armor}`), { identities: [readFileSync(join(dir, 'key.txt'), 'utf8')] });
      expect(readFileSync(join(dir, `out${armor}`)).equals(data)).toBe(true);
    }
    // Our identity file, read by age.
    const ours = generateIdentity();
    writeFileSync(join(dir, 'ours.txt'), `# a comment\n${ours}\n`);
    execFileSync('age', ['-r', identityToRecipient(ours), '-o', join(dir, 'x.age'), join(dir, 'p')]);
    expect(execFileSync('age', ['-d', '-i', join(dir, 'ours.txt'), join(dir, 'x.age')]).equals(data)).toBe(true);
  });

  for (const type of ['ed25519', 'rsa']) {
    it.skipIf(!haveSshKeygen)(`ssh-${type}: age -R key.pub / age -d -i key, both ways, keys made by ssh-keygen`, async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'p'), data);
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', 'test', '-f', join(dir, 'id')]);
      execFileSync('age', ['-R', join(dir, 'id.pub'), '-o', join(dir, 'theirs.age'), join(dir, 'p')]);
      const key = readFileSync(join(dir, 'id'), 'utf8');
      await decryptFile(join(dir, 'theirs.age'), join(dir, 'out'), { identities: [key] });
      expect(readFileSync(join(dir, 'out')).equals(data)).toBe(true);
      await encryptFile(join(dir, 'p'), join(dir, 'ours.age'), { recipients: [readFileSync(join(dir, 'id.pub'), 'utf8').trim()] });
      expect(execFileSync('age', ['-d', '-i', join(dir, 'id'), join(dir, 'ours.age')]).equals(data)).toBe(true);
      // The other key type does not open it: no match, not a crash.
      await expect(decryptFile(join(dir, 'ours.age'), join(dir, 'none'), { identities: [generateIdentity()] })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    });
  }
});
