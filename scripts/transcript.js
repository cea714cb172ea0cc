// Prints the worked handshake and first file of docs/PROTOCOL.md §7 for fixed randomness, as JSON.
// test/protocol/transcript.test.ts recomputes it from the sources and compares with test/vectors/sft-transcript.json.
import { clientStart, serverRespond, clientFinish, fileKey } from '../dist/protocol/handshake.js';
import { encodeServerHello, encodeFileHeader, encodeFileTrailer } from '../dist/protocol/messages.js';
import { ControlChannel, contentSealer } from '../dist/protocol/channel.js';
import { FrameType, encodeFrame } from '../dist/protocol/frames.js';
import { bytesToScalar } from '../dist/crypto/cpace.js';
import { createHash } from 'node:crypto';

export async function transcript() {
  const hex = (b) => Buffer.from(b).toString('hex');
  const password = 'correct horse battery staple';
  const fixed = {
    salt: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
    sid: Buffer.from('101112131415161718191a1b1c1d1e1f', 'hex'),
    ya: bytesToScalar(Buffer.from('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08', 'hex')),
  };
  const yb = bytesToScalar(Buffer.from('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d', 'hex'));
  const client = await clientStart(password, { suites: ['aes-256-gcm', 'chacha20-poly1305'], iterations: 1000, fixed });
  const server = await serverRespond(password, client.hello, client.helloBody, { suites: ['aes-256-gcm', 'chacha20-poly1305', 'fernet'], minIterations: 1000, maxIterations: 1000, fixed: { yb } });
  const { keys, clientConfirm } = clientFinish(client, server.serverHello);
  const control = new ControlChannel('aes-256-gcm', keys.clientToServer, keys.serverToClient);
  const content = Buffer.from('hello');
  const header = encodeFileHeader({ index: 0, path: 'hello.txt', size: 5, mode: 0o644, mtimeMs: 0 });
  const sealer = contentSealer('aes-256-gcm', fileKey(keys, 0));
  const frames = [
    encodeFrame(FrameType.ClientHello, client.helloBody),
    encodeFrame(FrameType.ServerHello, encodeServerHello(server.serverHello)),
    encodeFrame(FrameType.ClientConfirm, clientConfirm),
    encodeFrame(FrameType.FileHeader, control.seal(FrameType.FileHeader, header)),
    encodeFrame(FrameType.FinalChunk, Buffer.concat(sealer.seal(content, true))),
    encodeFrame(FrameType.FileTrailer, control.seal(FrameType.FileTrailer, encodeFileTrailer({ index: 0, sha256: createHash('sha256').update(content).digest() }))),
  ];
  return {
    password,
    iterations: 1000,
    salt: hex(fixed.salt),
    sid: hex(fixed.sid),
    ya: 'da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08',
    yb: 'd2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d',
    prs: hex(client.prs),
    Ya: hex(client.hello.Ya),
    Yb: hex(server.serverHello.Yb),
    transcriptHash: hex(keys.transcriptHash),
    serverConfirm: hex(server.serverHello.confirm),
    clientConfirm: hex(clientConfirm),
    keyClientToServer: hex(keys.clientToServer),
    keyServerToClient: hex(keys.serverToClient),
    keyFiles: hex(keys.files),
    fileKey0: hex(fileKey(keys, 0)),
    fileHeaderPlaintext: hex(header),
    frames: {
      clientHello: hex(frames[0]),
      serverHello: hex(frames[1]),
      clientConfirm: hex(frames[2]),
      fileHeader: hex(frames[3]),
      finalChunk: hex(frames[4]),
      fileTrailer: hex(frames[5]),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await transcript(), null, 2));
