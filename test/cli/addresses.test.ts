/**
 * The address parsers behind --to, --from and --relay: `host`, `host:port`, `[v6]:port`, `user@…`. An IPv6
 * literal needs its brackets (as in a URL): `::1` alone is refused rather than guessed at.
 */
import { describe, expect, it } from 'vitest';
import { parseAddress, parseRemote } from '../../src/cli/common.js';
import { UsageError } from '../../src/errors.js';

describe('parseAddress', () => {
  it('reads host, host:port and [v6]:port; the port defaults to 7878', () => {
    expect(parseAddress('[::1]:7878')).toEqual({ host: '::1', port: 7878 });
    expect(parseAddress('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseAddress('[::1]')).toEqual({ host: '::1', port: 7878 });
    expect(parseAddress('[2001:db8::5]:1')).toEqual({ host: '2001:db8::5', port: 1 });
    expect(parseAddress('127.0.0.1:65535')).toEqual({ host: '127.0.0.1', port: 65535 });
    expect(parseAddress('files.example.org')).toEqual({ host: 'files.example.org', port: 7878 });
  });

  it('refuses a port out of range, a bare IPv6 literal, and anything else malformed, naming the flag', () => {
    for (const text of ['host:99999', 'host:65536', 'host:0', '[::1]:70000', '::1', '::1:7878', '[::1', '::1]', 'host:', 'host:abc', 'host:-1', 'a:1:2', '', ':7878', '[]:1', '[]', 'ho]st', 'ho[st:1']) {
      expect(() => parseAddress(text, '--from'), text).toThrow(UsageError);
      expect(() => parseAddress(text, '--from'), text).toThrow(/^--from expects \[user@\]host\[:port\] \(an IPv6 address as \[::1\]:7878\)/);
    }
  });
});

describe('parseRemote', () => {
  it('reads an account before the last @, and an IPv6 literal after it', () => {
    expect(parseRemote('alice@[::1]', '--to')).toEqual({ account: 'alice', host: '::1', port: 7878 });
    expect(parseRemote('alice@[::1]:7900', '--to')).toEqual({ account: 'alice', host: '::1', port: 7900 });
    expect(parseRemote('bob@files.example.org:22', '--to')).toEqual({ account: 'bob', host: 'files.example.org', port: 22 });
    expect(parseRemote('me@example.org@host', '--to')).toEqual({ account: 'me@example.org', host: 'host', port: 7878 });
    expect(parseRemote('[::1]:7878', '--to')).toEqual({ host: '::1', port: 7878 });
    expect(parseRemote('host', '--to')).not.toHaveProperty('account');
  });

  it('refuses an empty account or host, a bare IPv6 literal and a bad port', () => {
    for (const text of ['@host', 'alice@', 'alice@::1', 'alice@host:99999', 'alice@[::1]:0']) {
      expect(() => parseRemote(text, '--to'), text).toThrow(UsageError);
      expect(() => parseRemote(text, '--to'), text).toThrow(/^--to expects \[user@\]host\[:port\]/);
    }
  });
});
