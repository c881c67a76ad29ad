// Peer address checks (trusted proxies, forward-auth callers), compiled once into a
// node:net BlockList so the per-request test is one native lookup.
import { BlockList, isIPv4 } from 'node:net';
import { parseCidr } from '../config/schema.js';

export type AddressMatcher = (address: string) => boolean;

const NEVER: AddressMatcher = () => false;

/** Sockets on a dual-stack listener report IPv4 peers as `::ffff:1.2.3.4`. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** A matcher for a list of IPs/CIDRs (already validated by the config schema). */
export function addressMatcher(entries: readonly string[]): AddressMatcher {
  if (entries.length === 0) return NEVER;
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (!cidr) throw new Error(`not an IP or CIDR: ${entry}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return function matchesAddress(address: string): boolean {
    const plain = plainAddress(address);
    return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
  };
}
