/**
 * OPAQUE-3DH (RFC 9807) through @serenity-kit/opaque, a WebAssembly build of opaque-ke: suite ristretto255 (OPRF
 * and key exchange), SHA-512, 3DH, Argon2id as the key-stretching function. This file only converts between the
 * library's base64url strings and Buffers and fixes the parameters both sides must agree on.
 *
 * Key stretching: RFC 9106 §4's second recommended option, Argon2id t=3, p=4, m=64 MiB ("memory-constrained" in
 * the library): ~0.25 s on the client at login and at registration, never on the server. The RFC 9807 first
 * recommendation (m = 2 GiB) took 4 s and 2.1 GiB of WebAssembly memory here, which a login should not need.
 */
import type * as OpaqueModule from '@serenity-kit/opaque';
import { AuthError, IntegrityError, SftError } from '../errors.js';

const KEY_STRETCHING = 'memory-constrained' as const;
/** KE1 (credential request + auth request), KE2, KE3 sizes for ristretto255/SHA-512 (RFC 9807 §6.4 sizes). */
export const KE1_SIZE = 96;
export const KE2_SIZE = 320;
export const KE3_SIZE = 64;
export const SESSION_KEY_SIZE = 64;
/** opaque-ke 4's ServerSetup: OPRF seed (Nh = 64), server private key (32), public key for fake records (32). */
export const SERVER_SETUP_SIZE = 128;
/** A registration record (RFC 9807 §5.1.1 RegistrationRecord): client public key (32), masking key (64), envelope (96). */
export const RECORD_SIZE = 192;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const bytes = (text: string) => Buffer.from(text, 'base64url');

let loaded: typeof OpaqueModule | undefined;

/**
 * Loads the WebAssembly module (on first use only: it costs ~13 MiB and ~80 ms that shared-password sessions and
 * encryption at rest do not need); every other function needs it done.
 */
export async function opaqueReady(): Promise<void> {
  const module = await import('@serenity-kit/opaque');
  await module.ready;
  loaded = module;
}

function lib(): typeof OpaqueModule {
  if (loaded === undefined) throw new SftError('INTERNAL', 'OPAQUE used before opaqueReady()');
  return loaded;
}

/** A new server setup: the OPRF seed and the server's long-term key pair. Secret: it belongs in the accounts file only. */
export function createServerSetup(): string {
  return lib().server.createSetup();
}

/** Checks that `setup` is a server setup. @throws IntegrityError MALFORMED otherwise. */
export function checkServerSetup(setup: string): void {
  try {
    lib().server.getPublicKey(setup);
  } catch {
    throw new IntegrityError('MALFORMED', 'accounts file: the server setup is not valid');
  }
}

/**
 * Both halves of a registration in one process (`sft user add` on the server machine): the password is stretched
 * and blinded as a client would, and only the resulting record is kept. The record lets nobody log in without an
 * offline dictionary attack that also needs the server setup.
 */
export function register(setup: string, userIdentifier: string, password: string): Buffer {
  const start = lib().client.startRegistration({ password });
  const { registrationResponse } = lib().server.createRegistrationResponse({ serverSetup: setup, userIdentifier, registrationRequest: start.registrationRequest });
  const finish = lib().client.finishRegistration({
    clientRegistrationState: start.clientRegistrationState,
    registrationResponse,
    password,
    keyStretching: KEY_STRETCHING,
  });
  return bytes(finish.registrationRecord);
}

export interface ClientLoginStart {
  state: string;
  ke1: Buffer;
}

export function clientLoginStart(password: string): ClientLoginStart {
  const { clientLoginState, startLoginRequest } = lib().client.startLogin({ password });
  return { state: clientLoginState, ke1: bytes(startLoginRequest) };
}

/**
 * The server's answer to KE1. An unknown user gets a response computed from a fake record, which a client cannot
 * tell from a real one (RFC 9807 §10.9): the login just fails.
 * @throws IntegrityError MALFORMED when KE1 does not decode (not a valid group element).
 */
export function serverLoginStart(setup: string, userIdentifier: string, record: Buffer | undefined, ke1: Buffer): { state: string; ke2: Buffer } {
  try {
    const { serverLoginState, loginResponse } = lib().server.startLogin({
      serverSetup: setup,
      userIdentifier,
      registrationRecord: record === undefined ? null : b64(record),
      startLoginRequest: b64(ke1),
    });
    return { state: serverLoginState, ke2: bytes(loginResponse) };
  } catch {
    throw new IntegrityError('MALFORMED', 'opaque: invalid credential request');
  }
}

/**
 * Recovers the credentials with `password` and checks the server's MAC.
 * @throws AuthError when the password is wrong, the account does not exist, or KE2 was altered.
 */
export function clientLoginFinish(start: ClientLoginStart, ke2: Buffer, password: string): { ke3: Buffer; sessionKey: Buffer } {
  let result;
  try {
    result = lib().client.finishLogin({ clientLoginState: start.state, loginResponse: b64(ke2), password, keyStretching: KEY_STRETCHING });
  } catch {
    result = undefined;
  }
  if (result === undefined) throw new AuthError();
  return { ke3: bytes(result.finishLoginRequest), sessionKey: bytes(result.sessionKey) };
}

/** Checks the client's MAC. @throws AuthError when it does not verify. */
export function serverLoginFinish(state: string, ke3: Buffer): Buffer {
  try {
    return bytes(lib().server.finishLogin({ serverLoginState: state, finishLoginRequest: b64(ke3) }).sessionKey);
  } catch {
    throw new AuthError();
  }
}
