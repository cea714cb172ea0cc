import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configPath, parseRelayAddress, relayAddress } from '../../src/cli/config.js';
import { UsageError } from '../../src/errors.js';
import { tempDir } from '../helpers.js';

function withConfig(content: string): { XDG_CONFIG_HOME: string; path: string } {
  const base = tempDir();
  mkdirSync(join(base, 'sft'));
  writeFileSync(join(base, 'sft', 'config.json'), content);
  return { XDG_CONFIG_HOME: base, path: join(base, 'sft', 'config.json') };
}

describe('relay address: --relay, then SFT_RELAY, then the config file', () => {
  it('takes the flag first, then the environment, then the file', async () => {
    const { XDG_CONFIG_HOME, path } = withConfig('{"relay": "from-file.test:1234"}');
    const env = { XDG_CONFIG_HOME, SFT_RELAY: 'from-env.test:2345' };
    expect(await relayAddress('flag.test', env)).toEqual({ host: 'flag.test', port: 7879, from: '--relay' });
    expect(await relayAddress(undefined, env)).toEqual({ host: 'from-env.test', port: 2345, from: 'SFT_RELAY' });
    expect(await relayAddress(undefined, { XDG_CONFIG_HOME, SFT_RELAY: ' ' })).toEqual({ host: 'from-file.test', port: 1234, from: path });
  });

  it('finds ~/.config/sft/config.json when XDG_CONFIG_HOME is unset or empty', async () => {
    const home = tempDir();
    mkdirSync(join(home, '.config', 'sft'), { recursive: true });
    writeFileSync(join(home, '.config', 'sft', 'config.json'), '{"relay": "[::1]:7000", "other": 1}');
    expect(configPath({ HOME: home, XDG_CONFIG_HOME: '' })).toBe(join(home, '.config', 'sft', 'config.json'));
    expect(await relayAddress(undefined, { HOME: home })).toMatchObject({ host: '::1', port: 7000 });
  });

  it('with no address anywhere, a UsageError names all three ways and the file', async () => {
    const home = tempDir();
    const error = await relayAddress(undefined, { HOME: home }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      `no relay address: give --relay host[:port], set SFT_RELAY=host[:port], or put {"relay": "host:port"} in ${join(home, '.config', 'sft', 'config.json')}`,
    );
    const noKey = withConfig('{}');
    await expect(relayAddress(undefined, { XDG_CONFIG_HOME: noKey.XDG_CONFIG_HOME })).rejects.toThrow(/^no relay address/);
  });

  const badFiles: [string, RegExp][] = [
    ['{"relay": ', /is not valid JSON$/],
    ['["relay"]', /must hold a JSON object such as/],
    ['{"relay": 7879}', /"relay" in .* must be a string such as "relay.example.org:7879"/],
    ['{"relay": "host:99999"}', /"relay" in .*config.json expects host\[:port\], got "host:99999"/],
  ];
  it.each(badFiles)('a config file %j is a UsageError naming it', async (content, message) => {
    const { XDG_CONFIG_HOME, path } = withConfig(content);
    const error = await relayAddress(undefined, { XDG_CONFIG_HOME }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(path);
  });

  const good: [string, { host: string; port: number }][] = [
    ['relay.example.org', { host: 'relay.example.org', port: 7879 }],
    ['relay.example.org:80', { host: 'relay.example.org', port: 80 }],
    ['10.0.0.1:65535', { host: '10.0.0.1', port: 65535 }],
    ['[::1]', { host: '::1', port: 7879 }],
    ['[::1]:7000', { host: '::1', port: 7000 }],
    ['::1', { host: '::1', port: 7879 }],
    ['2001:db8::5', { host: '2001:db8::5', port: 7879 }],
  ];
  it.each(good)('parses %s', (text, expected) => {
    expect(parseRelayAddress(text, '--relay')).toEqual(expected);
  });

  it.each(['', 'host:0', 'host:99999', 'host:', ':80', '[::1', '[::1]:', ' host', 'host:80:90x', '[]:80', '[relay.test]:80', 'a b:80'])('rejects %j', (text) => {
    expect(() => parseRelayAddress(text, '--relay')).toThrow(UsageError);
  });
});
