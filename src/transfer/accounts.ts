/**
 * The accounts file of `sft serve --accounts FILE`: one JSON file, read whole, changed only by `sft user`.
 *
 *   { "version": 1,
 *     "serverSetup": "<base64url: OPRF seed, server key pair>",
 *     "users": { "alice": { "record": "<base64url: OPAQUE registration record>", "home": "alice",
 *                           "can": ["send", "get", "list"], "quota": 10737418240 } } }
 *
 * No password is stored, nor anything derived from one without the OPRF key: each user has only the OPAQUE
 * registration record (RFC 9807 §5.1.1) that `register()` computes. The record does not let anyone log in. What a
 * thief of this file does get is an offline dictionary attack, one user at a time: the file also holds the server
 * setup (the OPRF seed), so each guess costs one OPRF evaluation plus one Argon2id (t=3, p=4, 64 MiB): 0.19 s per
 * guess per core measured with OpenSSL's native Argon2id here, 0.27-0.36 s in the library's WebAssembly. Because the
 * OPRF key is secret until the theft and differs per user, nothing can be precomputed, and one guess tests one
 * user. Hence the ssh-like refusal below of a file that others can read.
 *
 * Rules (checkSettings):
 * - a name is 1..32 characters of `a-z 0-9 _ . -`, starting with a letter or `_`, not ending in `.` (Unix user
 *   names, lower case so that two accounts never share a home on a case-insensitive file system); it is also the
 *   OPAQUE credential identifier and the default home, so it must stay a safe single path segment;
 * - `home` is a path relative to the served root (default: the name) or an absolute path, with no empty, `.` or
 *   `..` segment (transfer/paths.ts rules), at most MAX_HOME_BYTES;
 * - `can` is a subset of PERMISSIONS (default send, get, list); `quota` is in bytes, absent for none.
 *
 * Writes: the whole file is written to a temporary file (mode 0600), fsynced and renamed over FILE, so readers
 * (the server) never see a partial file and need no lock. Writers take `FILE.lock` (created with O_EXCL, holding
 * their pid), re-read FILE, apply their change and write, so two `sft user` runs never lose an update. A lock left
 * by a killed process is not taken over (that would race with a third writer): the error names it, to be removed by
 * hand, as git does with index.lock.
 */
import { constants } from 'node:fs';
import { lstat, open, readFile, rm } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkServerSetup, createServerSetup, opaqueReady, RECORD_SIZE, register, SERVER_SETUP_SIZE } from '../crypto/opaque.js';
import { IntegrityError, SftError, UsageError } from '../errors.js';
import { atomicWrite } from '../util/atomic-file.js';
import { safeSegments } from './paths.js';

export const PERMISSIONS = ['send', 'get', 'list', 'delete'] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const DEFAULT_PERMISSIONS: readonly Permission[] = ['send', 'get', 'list'];

/** Caps checked before anything is parsed or added: ~10,000 users with short homes take ~4 MiB. */
export const MAX_ACCOUNTS_FILE_BYTES = 8 * 1024 * 1024;
export const MAX_USERS = 10_000;
export const MAX_HOME_BYTES = 1024;
const VERSION = 1;
/** How long a writer waits for another writer's lock (each holds it for a few milliseconds). */
const LOCK_WAIT_MS = 10_000;

const NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

export interface Account {
  /** The user name, also the OPAQUE credential identifier (`userIdentifier`). */
  name: string;
  /** As stored: relative to the served root, or absolute. See resolveHome(). */
  home: string;
  can: Permission[];
  /** Bytes the account may hold under its home; absent: no quota. */
  quota?: number;
  /** The OPAQUE registration record (RECORD_SIZE bytes). */
  record: Buffer;
}

export interface AccountSettings {
  home?: string;
  can?: readonly Permission[];
  quota?: number;
}

interface Contents {
  serverSetup: string;
  users: Map<string, Account>;
}

/** Why `name` is not a valid user name, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  if (!NAME.test(name) || name.endsWith('.')) {
    return `invalid user name ${JSON.stringify(name.slice(0, 40))}: use 1 to 32 of a-z 0-9 _ . -, starting with a letter or _, not ending in .`;
  }
  return undefined;
}

/** Why `home` is not a valid home, or undefined when it is. */
function homeProblem(home: string): string | undefined {
  const bad = (why: string) => `invalid home ${JSON.stringify(home.slice(0, 80))}: ${why}`;
  if (Buffer.byteLength(home) > MAX_HOME_BYTES) return bad(`over ${MAX_HOME_BYTES} bytes`);
  try {
    safeSegments(isAbsolute(home) ? home.slice(1) : home);
  } catch (error) {
    return bad((error as Error).message.replace(/^refused file name ".*": /, ''));
  }
  return undefined;
}

/** Why `can` is not a list of permissions, or undefined when it is. */
function canProblem(can: readonly unknown[]): string | undefined {
  const unknown = can.find((p) => !(PERMISSIONS as readonly unknown[]).includes(p));
  if (unknown !== undefined) return `unknown permission ${JSON.stringify(unknown)} (expected some of ${PERMISSIONS.join(', ')})`;
  if (new Set(can).size !== can.length) return 'a permission is listed twice';
  return undefined;
}

function quotaProblem(quota: unknown): string | undefined {
  return Number.isSafeInteger(quota) && (quota as number) >= 0 ? undefined : 'expected a whole number of bytes';
}

/** The home directory of `account`: its `home` resolved against the served root `root`. */
export function resolveHome(root: string, account: Pick<Account, 'home'>): string {
  return resolve(root, account.home);
}

/** The users and server setup of one accounts file, with the lock-protected changes `sft user` makes. */
export class AccountStore {
  readonly file: string;
  /** True when open() has just created the file. */
  readonly created: boolean;
  #contents: Contents;

  private constructor(file: string, contents: Contents, created: boolean) {
    this.file = file;
    this.#contents = contents;
    this.created = created;
  }

  /**
   * Reads and checks the accounts file (see the module comment for what is refused). With `create`, a missing file
   * is first created with a new server setup and no users.
   * @throws SftError IO when the file is missing (without `create`), not a regular file, not ours, open to others
   *   or locked; IntegrityError MALFORMED naming the field when its content is not valid.
   */
  static async open(file: string, options: { create?: boolean } = {}): Promise<AccountStore> {
    await opaqueReady();
    let created = false;
    if (options.create === true && !(await exists(file))) {
      created = await withLock(file, async () => {
        if (await exists(file)) return false;
        await writeAccounts(file, { serverSetup: createServerSetup(), users: new Map() });
        return true;
      });
    }
    return new AccountStore(file, await readAccounts(file), created);
  }

  /** The OPAQUE server setup (secret: the OPRF seed and the server's private key). */
  get serverSetup(): string {
    return this.#contents.serverSetup;
  }

  /** The account named `name`, or undefined (for any string: a peer may send it). */
  lookup(name: string): Account | undefined {
    return this.#contents.users.get(name);
  }

  /** Every account, by name. */
  list(): Account[] {
    return [...this.#contents.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Reads the file again (a server picks up `sft user` changes this way). Throws as open() does. */
  async reload(): Promise<void> {
    this.#contents = await readAccounts(this.file);
  }

  /**
   * Registers a new user with `password` (Argon2id runs here, ~0.25 s) and writes the file.
   * @throws UsageError for an invalid name or setting, an existing user, or a full file; as open() for the file.
   */
  async add(name: string, password: string, settings: AccountSettings = {}): Promise<Account> {
    const checked = checkSettings(name, settings);
    this.#refuseExisting(name);
    const account: Account = { ...checked, record: register(this.serverSetup, name, password) };
    await this.#change((users) => {
      this.#refuseExisting(name, users);
      if (users.size >= MAX_USERS) throw new UsageError(`${this.file} already holds ${MAX_USERS} users, the most allowed`);
      users.set(name, account);
    });
    return account;
  }

  /** Replaces the registration record of `name` with one for `password`. @throws UsageError for an unknown user. */
  async passwd(name: string, password: string): Promise<void> {
    this.#account(name);
    const record = register(this.serverSetup, name, password);
    await this.#change((users) => {
      users.set(name, { ...this.#account(name, users), record });
    });
  }

  /** Removes `name` from the file (its files stay where they are). @throws UsageError for an unknown user. */
  async remove(name: string): Promise<void> {
    this.#account(name);
    await this.#change((users) => {
      this.#account(name, users);
      users.delete(name);
    });
  }

  #account(name: string, users = this.#contents.users): Account {
    const account = users.get(name);
    if (account === undefined) throw new UsageError(`no user ${JSON.stringify(name)} in ${this.file}`);
    return account;
  }

  #refuseExisting(name: string, users = this.#contents.users): void {
    if (users.has(name)) throw new UsageError(`user ${JSON.stringify(name)} already exists in ${this.file}`);
  }

  /** Under the lock: re-reads the file, applies `apply` to its users, writes it, and keeps the result. */
  async #change(apply: (users: Map<string, Account>) => void): Promise<void> {
    await withLock(this.file, async () => {
      const current = await readAccounts(this.file);
      if (current.serverSetup !== this.serverSetup) {
        throw new SftError('IO', `accounts file ${this.file} was replaced while this command ran: run it again`);
      }
      apply(current.users);
      await writeAccounts(this.file, current);
      this.#contents = current;
    });
  }
}

/** The account `add` would make, before its record. @throws UsageError naming what is invalid. */
export function checkSettings(name: string, settings: AccountSettings): Omit<Account, 'record'> {
  const home = settings.home ?? name;
  const can = settings.can === undefined ? [...DEFAULT_PERMISSIONS] : PERMISSIONS.filter((p) => settings.can?.includes(p));
  const problem =
    nameProblem(name) ??
    homeProblem(home) ??
    (settings.can === undefined ? undefined : canProblem(settings.can)) ??
    (settings.quota === undefined ? undefined : quotaProblem(settings.quota));
  if (problem !== undefined) throw new UsageError(problem);
  return { name, home, can, ...(settings.quota === undefined ? {} : { quota: settings.quota }) };
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Reads FILE after checking, on the open descriptor, that it is a regular file of ours, closed to others, small. */
async function readAccounts(file: string): Promise<Contents> {
  let handle;
  try {
    // O_NONBLOCK: a FIFO put in its place must not hang us.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SftError('IO', `accounts file ${file} does not exist (sft user add creates it)`);
    throw new SftError('IO', `cannot read accounts file ${file}: ${code ?? (error as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new SftError('IO', `accounts file ${file} is not a regular file`);
    // Owner and mode bits mean something on POSIX only (process.getuid is undefined on Windows).
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) throw new SftError('IO', `accounts file ${file} is owned by uid ${stat.uid}, not by this user (uid ${uid})`);
    if (uid !== undefined && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
      throw new SftError('IO', `accounts file ${file} is open to other users (mode ${mode}): run chmod 600 ${file}`);
    }
    if (stat.size > MAX_ACCOUNTS_FILE_BYTES) throw malformed(file, `over ${MAX_ACCOUNTS_FILE_BYTES} bytes`);
    const text = await handle.readFile({ encoding: 'utf8' });
    if (Buffer.byteLength(text) > MAX_ACCOUNTS_FILE_BYTES) throw malformed(file, `over ${MAX_ACCOUNTS_FILE_BYTES} bytes`);
    return parseAccounts(file, text);
  } finally {
    await handle.close();
  }
}

function malformed(file: string, why: string): IntegrityError {
  return new IntegrityError('MALFORMED', `accounts file ${file}: ${why}`);
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Unknown fields are refused: a misspelt "qouta" must not silently mean "no quota". */
function refuseUnknownFields(file: string, where: string, value: Json, known: readonly string[]): void {
  const extra = Object.keys(value).find((key) => !known.includes(key));
  if (extra !== undefined) throw malformed(file, `${where}: unknown field ${JSON.stringify(extra.slice(0, 40))}`);
}

/** base64url without padding, exactly as the OPAQUE library writes it, of `size` bytes. */
function decodeBase64url(file: string, field: string, value: unknown, size: number): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64url') : undefined;
  if (bytes === undefined || bytes.toString('base64url') !== value || bytes.length !== size) {
    throw malformed(file, `${field}: expected ${size} bytes in base64url`);
  }
  return bytes;
}

function parseAccounts(file: string, text: string): Contents {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw malformed(file, 'not valid JSON');
  }
  if (!isObject(json)) throw malformed(file, 'expected a JSON object');
  refuseUnknownFields(file, 'top level', json, ['version', 'serverSetup', 'users']);
  if (json.version !== VERSION) throw malformed(file, `version: expected ${VERSION}, got ${JSON.stringify(json.version)}`);
  decodeBase64url(file, 'serverSetup', json.serverSetup, SERVER_SETUP_SIZE);
  const serverSetup = json.serverSetup as string;
  try {
    checkServerSetup(serverSetup);
  } catch {
    throw malformed(file, 'serverSetup: not a valid OPAQUE server setup');
  }
  if (!isObject(json.users)) throw malformed(file, 'users: expected an object');
  const entries = Object.entries(json.users);
  if (entries.length > MAX_USERS) throw malformed(file, `users: more than ${MAX_USERS}`);
  const users = new Map<string, Account>();
  for (const [name, entry] of entries) users.set(name, parseAccount(file, name, entry));
  return { serverSetup, users };
}

function parseAccount(file: string, name: string, entry: unknown): Account {
  const nameError = nameProblem(name);
  if (nameError !== undefined) throw malformed(file, `users: ${nameError}`);
  const where = `users.${name}`;
  if (!isObject(entry)) throw malformed(file, `${where}: expected an object`);
  refuseUnknownFields(file, where, entry, ['record', 'home', 'can', 'quota']);
  const record = decodeBase64url(file, `${where}.record`, entry.record, RECORD_SIZE);
  if (typeof entry.home !== 'string') throw malformed(file, `${where}.home: expected a string`);
  const homeError = homeProblem(entry.home);
  if (homeError !== undefined) throw malformed(file, `${where}.home: ${homeError}`);
  if (!Array.isArray(entry.can)) throw malformed(file, `${where}.can: expected a list`);
  const canError = canProblem(entry.can);
  if (canError !== undefined) throw malformed(file, `${where}.can: ${canError}`);
  if (entry.quota !== undefined && quotaProblem(entry.quota) !== undefined) throw malformed(file, `${where}.quota: expected a whole number of bytes`);
  return { name, home: entry.home, can: entry.can as Permission[], ...(entry.quota === undefined ? {} : { quota: entry.quota as number }), record };
}

function serialize(contents: Contents): string {
  const users = [...contents.users.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((a) => [a.name, { record: a.record.toString('base64url'), home: a.home, can: a.can, ...(a.quota === undefined ? {} : { quota: a.quota }) }]);
  // Object.fromEntries defines own properties: a user named "__proto__" stays a user.
  return JSON.stringify({ version: VERSION, serverSetup: contents.serverSetup, users: Object.fromEntries(users) }, null, 2) + '\n';
}

/** Replaces FILE atomically (temporary file, fsync, rename, fsync of the directory), mode 0600. */
async function writeAccounts(file: string, contents: Contents): Promise<void> {
  const text = serialize(contents);
  if (Buffer.byteLength(text) > MAX_ACCOUNTS_FILE_BYTES) throw new UsageError(`accounts file ${file} would exceed ${MAX_ACCOUNTS_FILE_BYTES} bytes`);
  try {
    await atomicWrite(
      file,
      async (out) => {
        out.end(text);
      },
      { overwrite: true, mode: 0o600, fsync: true },
    );
  } catch (error) {
    throw new SftError('IO', `cannot write accounts file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Runs `fn` holding FILE.lock, waiting up to LOCK_WAIT_MS for another writer to release it. */
async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`).finally(() => handle.close());
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new SftError('IO', `cannot create lock file ${lock}: ${code ?? (error as Error).message}`);
      await refuseStaleLock(lock);
      if (Date.now() > deadline) throw new SftError('IO', `accounts file ${file} is locked by another sft user command (${lock})`);
      await sleep(20 + Math.random() * 30);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** A lock whose writer (on this machine) is gone stays until removed by hand: say so at once. */
async function refuseStaleLock(lock: string): Promise<void> {
  const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return; // being written, or just removed
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') {
      throw new SftError('IO', `stale lock ${lock}: process ${pid} that made it is gone; remove the file if no sft user command is running`);
    }
  }
}
