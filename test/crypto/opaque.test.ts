/**
 * OPAQUE-3DH through src/crypto/opaque.ts (@serenity-kit/opaque 1.1.0 = opaque-ke 4.0, ristretto255, SHA-512,
 * Argon2id), and the published vectors (test/vectors/opaque: RFC 9807 Appendix C, ristretto255 entries).
 *
 * What the vectors can check here, and what they cannot:
 * - The library takes no injected randomness (blinds, nonces, key-share seeds come from its own OS RNG), its key
 *   stretching is always Argon2id (the vectors use the Identity KSF), and its OPAQUE context is empty (the vectors
 *   use "OPAQUE-POC"). So nothing the client computes (registration_request, envelope, registration_upload, KE1,
 *   KE3, export_key, session_key) and nothing that depends on the server's fresh nonce or key share (server_nonce,
 *   server key share, server_mac, handshake_secret, mac keys) can be replayed against it. opaque-ke runs those
 *   itself against the same Appendix C values with a mocked RNG and the Identity KSF (src/tests/test_opaque_vectors.rs).
 * - What is deterministic on the server side is checked on the library, with a server setup built from the
 *   vector's oprf_seed and server_private_key (opaque-ke 4 ServerSetup = oprf_seed ‖ server sk ‖ dummy pk):
 *   server_public_key; the whole registration_response (evaluated element ‖ server public key) for the vector's
 *   registration_request; in KE2 for the vector's KE1, the evaluated element (bytes 0..32), and, for the real
 *   vectors with registration_upload as the record, the masked response: unmasked with the vector's masking_key
 *   and the library's own masking_nonce it must give server_public_key ‖ envelope (RFC 9807 §6.3.2.2). For the
 *   fake-record vector, KE2's evaluated element and its length (the fake masking key is random in the library).
 * - Independently of the library, noble's RFC 9497 OPRF and HKDF-SHA512 recompute from the vectors' inputs:
 *   server_public_key, oprf_key (RFC 9807 §3.2.1 key derivation), registration_request and KE1's blinded element,
 *   the evaluated elements, randomized_password (Identity KSF) and masking_key.
 */
import { extract, expand } from '@noble/hashes/hkdf.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import * as opaque from '@serenity-kit/opaque';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkServerSetup,
  clientLoginFinish,
  clientLoginStart,
  createServerSetup,
  KE1_SIZE,
  KE2_SIZE,
  KE3_SIZE,
  opaqueReady,
  RECORD_SIZE,
  register,
  serverLoginFinish,
  serverLoginStart,
  SESSION_KEY_SIZE,
} from '../../src/crypto/opaque.js';
import { AuthError, IntegrityError } from '../../src/errors.js';
import { hex, readVector } from '../helpers.js';

interface Vector {
  config: Record<string, string>;
  inputs: Record<string, string>;
  intermediates: Record<string, string>;
  outputs: Record<string, string>;
}

const vectors = readVector<Vector[]>('opaque/vectors.json').filter((v) => v.config.Group === 'ristretto255' && v.config.OPRF === 'ristretto255-SHA512');
const field = (v: Vector, name: string): Buffer => {
  const value = v.inputs[name] ?? v.intermediates[name] ?? v.outputs[name];
  if (value === undefined) throw new Error(`vector has no ${name}`);
  return hex(value);
};
const label = (text: string) => Buffer.from(text, 'ascii');
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** RFC 9497 §3.3.1 Blind with a given blind: HashToGroup(input) · blind, contextString for mode 0x00. */
function blindWith(input: Buffer, blind: Buffer): Buffer {
  const DST = Buffer.concat([label('HashToGroup-OPRFV1-'), Buffer.from([0]), label('-ristretto255-SHA512')]);
  return Buffer.from(ristretto255_hasher.hashToCurve(input, { DST }).multiply(bytesToNumberLE(blind)).toBytes());
}

/** RFC 9807 §3.2.1: oprf_key from oprf_seed and the credential identifier. */
function oprfKey(v: Vector): Buffer {
  const seed = expand(sha512, field(v, 'oprf_seed'), Buffer.concat([field(v, 'credential_identifier'), label('OprfKey')]), 32);
  return Buffer.from(ristretto255_oprf.oprf.deriveKeyPair(seed, label('OPAQUE-DeriveKeyPair')).secretKey);
}

/** A library server setup holding the vector's OPRF seed and server key pair (opaque-ke 4 ServerSetup layout). */
function vectorSetup(v: Vector): string {
  const dummy = v.inputs.client_public_key === undefined ? field(v, 'server_public_key') : field(v, 'client_public_key');
  return b64(Buffer.concat([field(v, 'oprf_seed'), field(v, 'server_private_key'), dummy]));
}

const credentialIdentifier = (v: Vector) => field(v, 'credential_identifier').toString('utf8');

beforeAll(() => opaqueReady());

describe('OPAQUE vectors (RFC 9807 Appendix C, ristretto255-SHA512)', () => {
  it('has the two real and the one fake-record ristretto255 configurations, with the Identity KSF', () => {
    expect(vectors.map((v) => v.config.Fake)).toEqual(['False', 'False', 'True']);
    for (const v of vectors) expect([v.config.KSF, v.config.Name, v.config.Hash, v.config.Nh]).toEqual(['Identity', '3DH', 'SHA512', '64']);
  });

  for (const v of vectors) {
    const kind = v.config.Fake === 'True' ? 'fake' : 'real';
    const name = `${kind} vector ${vectors.filter((w) => w.config.Fake === v.config.Fake).indexOf(v) + 1}`;

    it(`${name}: noble recomputes the OPRF values and key derivations from the inputs`, () => {
      const key = oprfKey(v);
      expect(Buffer.from(ristretto255.Point.BASE.multiply(bytesToNumberLE(field(v, 'server_private_key'))).toBytes())).toEqual(field(v, 'server_public_key'));
      const ke1 = field(v, 'KE1');
      expect(Buffer.from(ristretto255_oprf.oprf.blindEvaluate(key, ke1.subarray(0, 32)))).toEqual(field(v, 'KE2').subarray(0, 32));
      if (v.config.Fake === 'True') return;
      const password = field(v, 'password');
      expect(key).toEqual(field(v, 'oprf_key'));
      const request = field(v, 'registration_request');
      expect(blindWith(password, field(v, 'blind_registration'))).toEqual(request);
      expect(blindWith(password, field(v, 'blind_login'))).toEqual(ke1.subarray(0, 32));
      const evaluated = Buffer.from(ristretto255_oprf.oprf.blindEvaluate(key, request));
      expect(evaluated).toEqual(field(v, 'registration_response').subarray(0, 32));
      const output = ristretto255_oprf.oprf.finalize(password, field(v, 'blind_registration'), evaluated);
      // Identity KSF: Stretch(x) = x, so randomized_password = Extract("", oprf_output ‖ oprf_output).
      const randomizedPassword = Buffer.from(extract(sha512, Buffer.concat([output, output])));
      expect(randomizedPassword).toEqual(field(v, 'randomized_password'));
      expect(Buffer.from(expand(sha512, randomizedPassword, label('MaskingKey'), 64))).toEqual(field(v, 'masking_key'));
      const upload = field(v, 'registration_upload');
      expect(upload.length).toBe(RECORD_SIZE);
      expect(upload).toEqual(Buffer.concat([field(v, 'client_public_key'), field(v, 'masking_key'), field(v, 'envelope')]));
    });

    it(`${name}: the library's server gives the vector's server public key, registration response and KE2 OPRF part`, () => {
      const setup = vectorSetup(v);
      checkServerSetup(setup);
      expect(Buffer.from(opaque.server.getPublicKey(setup), 'base64url')).toEqual(field(v, 'server_public_key'));
      const ke1 = field(v, 'KE1');
      const fake = v.config.Fake === 'True';
      const record = fake ? undefined : field(v, 'registration_upload');
      const { ke2 } = serverLoginStart(setup, credentialIdentifier(v), record, ke1);
      expect(ke2.length).toBe(field(v, 'KE2').length);
      expect(ke2.subarray(0, 32)).toEqual(field(v, 'KE2').subarray(0, 32));
      if (fake) return;

      const { registrationResponse } = opaque.server.createRegistrationResponse({
        serverSetup: setup,
        userIdentifier: credentialIdentifier(v),
        registrationRequest: b64(field(v, 'registration_request')),
      });
      expect(Buffer.from(registrationResponse, 'base64url')).toEqual(field(v, 'registration_response'));

      // RFC 9807 §6.3.2.2: masked_response = xor(Expand(masking_key, masking_nonce ‖ "CredentialResponsePad"),
      // server_public_key ‖ envelope), with the library's fresh masking_nonce at KE2[32..64].
      const maskingNonce = ke2.subarray(32, 64);
      const pad = expand(sha512, field(v, 'masking_key'), Buffer.concat([maskingNonce, label('CredentialResponsePad')]), 32 + 96);
      const unmasked = Buffer.from(ke2.subarray(64, 192).map((byte, i) => byte ^ (pad[i] as number)));
      expect(unmasked).toEqual(Buffer.concat([field(v, 'server_public_key'), field(v, 'envelope')]));
    });
  }
});

describe('OPAQUE through src/crypto/opaque.ts', () => {
  const password = 'correct horse battery staple';
  let setup: string;
  let record: Buffer;
  beforeAll(() => {
    setup = createServerSetup();
    record = register(setup, 'alice', password);
  });

  /** Client start, server start with alice's record, as a login begins. */
  function begin(user = 'alice', secret = password) {
    const client = clientLoginStart(secret);
    const server = serverLoginStart(setup, user, user === 'alice' ? record : undefined, client.ke1);
    return { client, server };
  }
  const flip = (bytes: Buffer, at: number) => {
    const copy = Buffer.from(bytes);
    copy[at] = (copy[at] as number) ^ 1;
    return copy;
  };

  it('gives both sides the same 64-byte session key, a new one each login; messages have their RFC sizes', () => {
    expect(record.length).toBe(RECORD_SIZE);
    const keys = [0, 1].map(() => {
      const { client, server } = begin();
      expect([client.ke1.length, server.ke2.length]).toEqual([KE1_SIZE, KE2_SIZE]);
      const finish = clientLoginFinish(client, server.ke2, password);
      expect(finish.ke3.length).toBe(KE3_SIZE);
      const serverKey = serverLoginFinish(server.state, finish.ke3);
      expect(serverKey.length).toBe(SESSION_KEY_SIZE);
      expect(serverKey.equals(finish.sessionKey)).toBe(true);
      return serverKey;
    });
    expect((keys[0] as Buffer).equals(keys[1] as Buffer)).toBe(false);
  });

  it('fails on the client with AuthError for a wrong password', () => {
    const { client, server } = begin('alice', 'correct horse battery stapler');
    expect(() => clientLoginFinish(client, server.ke2, 'correct horse battery stapler')).toThrow(AuthError);
  });

  it('answers an unknown user with a KE2 of the same length, and the login fails on the client', () => {
    const { client, server } = begin('mallory');
    expect(server.ke2.length).toBe(begin().server.ke2.length);
    expect(() => clientLoginFinish(client, server.ke2, password)).toThrow(AuthError);
  });

  it('a record is bound to its user name: alice\'s record under another name fails', () => {
    const client = clientLoginStart(password);
    const server = serverLoginStart(setup, 'bob', record, client.ke1);
    expect(() => clientLoginFinish(client, server.ke2, password)).toThrow(AuthError);
  });

  it('KE1 altered: an invalid element is MALFORMED on the server; an altered nonce is AuthError on the client', () => {
    const client = clientLoginStart(password);
    // Bit 0 of an encoding's first byte makes it "negative", which ristretto255 decoding always rejects.
    for (const at of [0, 64]) expect(() => serverLoginStart(setup, 'alice', record, flip(client.ke1, at))).toThrow(IntegrityError);
    expect(() => serverLoginStart(setup, 'alice', record, client.ke1.subarray(0, KE1_SIZE - 1))).toThrow(IntegrityError);
    const server = serverLoginStart(setup, 'alice', record, flip(client.ke1, 32));
    expect(() => clientLoginFinish(client, server.ke2, password)).toThrow(AuthError);
  });

  it('KE2 altered in any field (element, masking nonce, masked response, nonce, key share, MAC) or cut: AuthError on the client', () => {
    const { client, server } = begin();
    for (const at of [0, 40, 100, 200, 224, 300]) {
      expect(() => clientLoginFinish(client, flip(server.ke2, at), password), `byte ${at}`).toThrow(AuthError);
    }
    expect(() => clientLoginFinish(client, server.ke2.subarray(0, KE2_SIZE - 1), password)).toThrow(AuthError);
    expect(clientLoginFinish(client, server.ke2, password).sessionKey.length).toBe(SESSION_KEY_SIZE);
  });

  it('KE3 altered or cut: AuthError on the server', () => {
    const { client, server } = begin();
    const { ke3 } = clientLoginFinish(client, server.ke2, password);
    for (const bad of [flip(ke3, 0), flip(ke3, 63), ke3.subarray(0, 63), Buffer.alloc(64)]) {
      expect(() => serverLoginFinish(server.state, bad)).toThrow(AuthError);
    }
  });

  it('a new registration (passwd) changes which password works', () => {
    const newRecord = register(setup, 'alice', 'a new password');
    const attempt = (secret: string) => {
      const client = clientLoginStart(secret);
      const server = serverLoginStart(setup, 'alice', newRecord, client.ke1);
      const finish = clientLoginFinish(client, server.ke2, secret);
      return serverLoginFinish(server.state, finish.ke3).equals(finish.sessionKey);
    };
    expect(() => attempt(password)).toThrow(AuthError);
    expect(attempt('a new password')).toBe(true);
  });

  it('refuses a server setup that is not one', () => {
    expect(() => checkServerSetup(b64(Buffer.alloc(128, 0xff)))).toThrow(IntegrityError);
    expect(() => checkServerSetup('short')).toThrow(IntegrityError);
  });
});
