import { describe, expect, it } from 'vitest';
import { TokenBucket, sourceKey } from '../../src/relay/limits.js';

describe('TokenBucket', () => {
  it('lets a burst of its capacity through, then asks for waits that keep the average at the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(1024 * 1024, () => now);
    expect(bucket.take(1024 * 1024)).toBe(0);
    expect(bucket.take(512 * 1024)).toBe(500);
    now = 500;
    expect(bucket.take(0)).toBe(0);
    expect(bucket.take(1024 * 1024)).toBe(1000);
    now = 10_000;
    // Refill is capped at capacity: a long pause does not bank more than one second's worth.
    expect(bucket.take(1024 * 1024)).toBe(0);
    expect(bucket.take(1)).toBe(1);
  });

  it('holds at least 64 KiB so a slow rate still passes whole socket reads', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, () => now);
    expect(bucket.take(64 * 1024)).toBe(0);
    expect(bucket.take(1000)).toBe(1000);
    now = 2000;
    expect(bucket.take(1000)).toBe(0);
  });
});

describe('sourceKey', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
  ];
  it.each(cases)('%s counts as %s', (address, key) => {
    expect(sourceKey(address)).toBe(key);
  });

  it('groups a /64 together and keeps different /64s apart', () => {
    expect(sourceKey('2001:db8:a:b::1')).toBe(sourceKey('2001:db8:a:b:ffff:ffff:ffff:ffff'));
    expect(sourceKey('2001:db8:a:b::1')).not.toBe(sourceKey('2001:db8:a:c::1'));
  });
});
