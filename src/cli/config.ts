/**
 * Where `send --relay` and `receive` find the relay when --relay is not given: SFT_RELAY, then the config file
 * ($XDG_CONFIG_HOME/sft/config.json, else ~/.config/sft/config.json) holding { "relay": "host:port" }.
 */
import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { RELAY_PORT } from '../relay/server.js';

export const RELAY_ENV = 'SFT_RELAY';

export interface RelayAddress {
  host: string;
  port: number;
  /** Where the address came from, for messages: "--relay", "SFT_RELAY" or the config file's path. */
  from: string;
}

/** The config file's path for this environment. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'sft', 'config.json');
}

/**
 * The relay to use: `flag` (the --relay value) if given, else SFT_RELAY, else the config file.
 * @throws UsageError when none gives an address (the message names all three ways), or one is malformed, or the
 *   config file cannot be read or parsed.
 */
export async function relayAddress(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<RelayAddress> {
  if (flag !== undefined) return { ...parseRelayAddress(flag, '--relay'), from: '--relay' };
  const fromEnv = env[RELAY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { ...parseRelayAddress(fromEnv.trim(), RELAY_ENV), from: RELAY_ENV };
  const path = configPath(env);
  const fromFile = await readConfigRelay(path);
  if (fromFile !== undefined) return { ...parseRelayAddress(fromFile, `"relay" in ${path}`), from: path };
  throw new UsageError(`no relay address: give --relay host[:port], set ${RELAY_ENV}=host[:port], or put {"relay": "host:port"} in ${path}`);
}

/** host, host:port, [v6], [v6]:port, or a bare IPv6 address; the port defaults to 7879. */
export function parseRelayAddress(text: string, what: string): { host: string; port: number } {
  if (isIPv6(text)) return { host: text, port: RELAY_PORT };
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::([0-9]{1,5}))?$/u.exec(text);
  const v6 = match?.[1];
  const host = v6 ?? match?.[2];
  const port = match?.[3] === undefined ? RELAY_PORT : Number(match[3]);
  if (host === undefined || (v6 !== undefined && !isIPv6(v6)) || port < 1 || port > 65535) throw new UsageError(`${what} expects host[:port], got "${text}"`);
  return { host, port };
}

async function readConfigRelay(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new UsageError(`cannot read ${path} (${code ?? 'error'})`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not valid JSON`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UsageError(`${path} must hold a JSON object such as {"relay": "host:port"}`);
  const relay = (config as Record<string, unknown>).relay;
  if (relay === undefined) return undefined;
  if (typeof relay !== 'string') throw new UsageError(`"relay" in ${path} must be a string such as "relay.example.org:7879"`);
  return relay;
}
