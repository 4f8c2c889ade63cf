import { BlockList, isIP } from 'node:net';

/**
 * Why an address may not receive webhooks (the SSRF guard, docs/security.md), or `public` when it may.
 * The order of {@link RULES} decides the category of an address in two ranges (cloud metadata
 * before link-local and private).
 */
export type AddressCategory =
  | 'metadata'
  | 'loopback'
  | 'unspecified'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'multicast'
  | 'reserved'
  | 'invalid'
  | 'public';

/** The verdict on one address. */
export interface AddressVerdict {
  /** The address as given (brackets and zone id removed). */
  address: string;
  /** The IPv4 address an IPv6 address carries (IPv4-mapped or -translated, -compatible, NAT64, 6to4 or Teredo; the refused one when several), when it does. */
  embeddedIpv4?: string;
  category: AddressCategory;
  allowed: boolean;
}

/** Cloud metadata host names refused at submission without DNS (they resolve to metadata addresses). */
export const METADATA_HOSTNAMES: ReadonlySet<string> = new Set([
  'metadata.google.internal', // GCP
  'metadata.goog', // GCP
  'metadata', // GCP and others, as a short name inside the cloud network
  'instance-data', // AWS
  'instance-data.ec2.internal', // AWS
]);

type Rule = [category: Exclude<AddressCategory, 'public' | 'invalid'>, family: 'ipv4' | 'ipv6', network: string, prefix: number];

/**
 * Refused ranges, first match wins. Sources: RFC 6890 (special-purpose registries), RFC 1918,
 * RFC 4193, RFC 6598 (CGNAT), RFC 3927 / 4291 (link-local), and the clouds' metadata endpoints
 * (169.254.169.254 on AWS, GCP, Azure and others; fd00:ec2::254 on AWS Nitro).
 */
const RULES: readonly Rule[] = [
  ['metadata', 'ipv4', '169.254.169.254', 32],
  ['metadata', 'ipv4', '169.254.170.2', 32], // AWS ECS task metadata
  ['metadata', 'ipv6', 'fd00:ec2::254', 128],
  ['unspecified', 'ipv4', '0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['cgnat', 'ipv4', '100.64.0.0', 10], // also Alibaba Cloud's metadata at 100.100.100.200
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['reserved', 'ipv4', '192.0.0.0', 24], // IETF protocol assignments
  ['reserved', 'ipv4', '192.0.2.0', 24], // documentation
  ['reserved', 'ipv4', '198.18.0.0', 15], // benchmarking
  ['reserved', 'ipv4', '198.51.100.0', 24], // documentation
  ['reserved', 'ipv4', '203.0.113.0', 24], // documentation
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['reserved', 'ipv4', '240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['private', 'ipv6', 'fc00::', 7], // unique local addresses
  ['link-local', 'ipv6', 'fe80::', 10],
  ['private', 'ipv6', 'fec0::', 10], // deprecated site-local
  ['multicast', 'ipv6', 'ff00::', 8],
  ['reserved', 'ipv6', '100::', 64], // discard-only
  ['reserved', 'ipv6', '64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): translates to internal IPv4 hosts
  ['reserved', 'ipv6', '2001:db8::', 32], // documentation
];

/** One BlockList per category, in rule order (a BlockList answers yes/no, not which rule). */
const LISTS: ReadonlyArray<[Rule[0], BlockList]> = (() => {
  const byCategory = new Map<Rule[0], BlockList>();
  for (const [category, family, network, prefix] of RULES) {
    let list = byCategory.get(category);
    if (!list) byCategory.set(category, (list = new BlockList()));
    list.addSubnet(network, prefix, family);
  }
  return [...byCategory];
})();

/** Parses an IPv6 address into 8 groups of 16 bits; undefined when it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 ? groups : undefined;
}

const ipv4Of = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/**
 * Every IPv4 address an IPv6 address carries when connecting to it can reach that IPv4 host:
 * IPv4-mapped `::ffff:a.b.c.d` (RFC 4291), IPv4-translated `::ffff:0:a.b.c.d` (RFC 2765),
 * deprecated IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` (RFC 6052), 6to4
 * `2002:AABB:CCDD::` (RFC 3056) and Teredo `2001:0:SSSS:SSSS:…:CCCC:CCCC` (RFC 4380: the server
 * address, and the client address stored inverted). Empty when it carries none.
 */
export function embeddedIpv4s(address: string): string[] {
  const g = ipv6Groups(address);
  if (!g) return [];
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return [ipv4Of(g[6]!, g[7]!)];
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return [ipv4Of(g[6]!, g[7]!)];
  // ::a.b.c.d, but not :: and ::1 themselves.
  if (zeros(0, 6) && (g[6] !== 0 || g[7]! > 1)) return [ipv4Of(g[6]!, g[7]!)];
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return [ipv4Of(g[6]!, g[7]!)];
  if (g[0] === 0x2002) return [ipv4Of(g[1]!, g[2]!)];
  if (g[0] === 0x2001 && g[1] === 0) return [ipv4Of(g[6]! ^ 0xffff, g[7]! ^ 0xffff), ipv4Of(g[2]!, g[3]!)];
  return [];
}

/** The first IPv4 address {@link embeddedIpv4s} finds (Teredo: the client's), or undefined. */
export function embeddedIpv4(address: string): string | undefined {
  return embeddedIpv4s(address)[0];
}

/** Removes URL brackets (`[::1]`) and an IPv6 zone id (`fe80::1%eth0`). */
function bare(address: string): string {
  const unbracketed = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const zone = unbracketed.indexOf('%');
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone);
}

function categoryOf(address: string, family: 'ipv4' | 'ipv6'): AddressCategory {
  for (const [category, list] of LISTS) if (list.check(address, family)) return category;
  return 'public';
}

/**
 * Classifies an IP address for webhook delivery. An IPv6 address that carries an IPv4 address
 * (see {@link embeddedIpv4}) gets the stricter of the two categories.
 * @param address an IPv4 or IPv6 literal, with or without brackets or zone id; anything else is `invalid`.
 */
export function classifyAddress(address: string): AddressVerdict {
  const ip = bare(address);
  const version = isIP(ip);
  if (version === 0) return { address: ip, category: 'invalid', allowed: false };
  if (version === 4) {
    const category = categoryOf(ip, 'ipv4');
    return { address: ip, category, allowed: category === 'public' };
  }
  const carried = embeddedIpv4s(ip);
  let category = categoryOf(ip, 'ipv6');
  let v4 = carried[0];
  for (const candidate of carried) {
    if (category !== 'public') break;
    category = categoryOf(candidate, 'ipv4');
    v4 = candidate;
  }
  return { address: ip, ...(v4 ? { embeddedIpv4: v4 } : {}), category, allowed: category === 'public' };
}

/** Whether `address` (an IP literal) may receive webhooks. */
export function isAllowedAddress(address: string): boolean {
  return classifyAddress(address).allowed;
}

const CATEGORY_TEXT: Record<AddressCategory, string> = {
  metadata: 'a cloud metadata address',
  loopback: 'a loopback address',
  unspecified: 'an unspecified address',
  private: 'a private address',
  'link-local': 'a link-local address',
  cgnat: 'a carrier-grade NAT (shared) address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
  invalid: 'an invalid address',
  public: 'a public address',
};

/** `a private address`, `a loopback address`, ... for error messages. */
export function describeCategory(category: AddressCategory): string {
  return CATEGORY_TEXT[category];
}

/** A URL hostname without its trailing dot, lower-cased (`Metadata.Google.Internal.` → `metadata.google.internal`). */
function normalHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

/**
 * The submission-time check of a webhook URL's host, without DNS: a literal IP is classified, a
 * known cloud metadata name is refused, any other name passes (its addresses are checked when the
 * delivery connects).
 * @returns why the host is refused (`host 10.0.0.5 is a private address`), or undefined when it passes.
 */
export function literalHostRefusal(hostname: string): string | undefined {
  const host = normalHostname(hostname);
  if (METADATA_HOSTNAMES.has(host)) return `host ${host} is ${describeCategory('metadata')}`;
  const ip = bare(host);
  if (isIP(ip) === 0) return undefined;
  const verdict = classifyAddress(ip);
  return verdict.allowed ? undefined : `host ${ip} is ${describeCategory(verdict.category)}`;
}
