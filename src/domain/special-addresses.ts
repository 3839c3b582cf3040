import ipaddr from "ipaddr.js";

/**
 * Address blocks a push may not reach, from the IANA special-purpose
 * registries (https://www.iana.org/assignments/iana-ipv4-special-registry,
 * https://www.iana.org/assignments/iana-ipv6-special-registry) and the
 * multicast blocks (RFC 5771, RFC 4291). `private` blocks open to a local
 * host with CONVEYOR_ALLOW_PRIVATE_PUSH; `never` ones to nobody. Blocks the
 * registry marks globally reachable (anycast relays, AS112, AMT) are refused
 * too: they are network services, not webhook receivers.
 */
const SPECIAL_BLOCKS: readonly { cidr: string; name: string; reach: "private" | "never" }[] = [
  { cidr: "0.0.0.0/8", name: "this network", reach: "never" },
  { cidr: "10.0.0.0/8", name: "private-use", reach: "private" },
  { cidr: "100.64.0.0/10", name: "shared address space", reach: "private" },
  { cidr: "127.0.0.0/8", name: "loopback", reach: "private" },
  { cidr: "169.254.0.0/16", name: "link-local", reach: "never" },
  { cidr: "172.16.0.0/12", name: "private-use", reach: "private" },
  { cidr: "192.0.0.0/24", name: "IETF protocol assignments", reach: "never" },
  { cidr: "192.0.2.0/24", name: "documentation", reach: "never" },
  { cidr: "192.31.196.0/24", name: "AS112", reach: "never" },
  { cidr: "192.52.193.0/24", name: "AMT", reach: "never" },
  { cidr: "192.88.99.0/24", name: "6to4 relay anycast", reach: "never" },
  { cidr: "192.168.0.0/16", name: "private-use", reach: "private" },
  { cidr: "192.175.48.0/24", name: "AS112 direct delegation", reach: "never" },
  { cidr: "198.18.0.0/15", name: "benchmarking", reach: "never" },
  { cidr: "198.51.100.0/24", name: "documentation", reach: "never" },
  { cidr: "203.0.113.0/24", name: "documentation", reach: "never" },
  { cidr: "224.0.0.0/4", name: "multicast", reach: "never" },
  { cidr: "240.0.0.0/4", name: "reserved", reach: "never" },
  { cidr: "255.255.255.255/32", name: "limited broadcast", reach: "never" },
  { cidr: "::/128", name: "unspecified", reach: "never" },
  { cidr: "::1/128", name: "loopback", reach: "private" },
  { cidr: "::/96", name: "IPv4-compatible (deprecated)", reach: "never" },
  { cidr: "::ffff:0:0:0/96", name: "IPv4-translated", reach: "never" },
  { cidr: "64:ff9b::/96", name: "IPv4/IPv6 translation", reach: "never" },
  { cidr: "64:ff9b:1::/48", name: "local-use IPv4/IPv6 translation", reach: "never" },
  { cidr: "100::/64", name: "discard-only", reach: "never" },
  { cidr: "100:0:0:1::/64", name: "dummy prefix", reach: "never" },
  { cidr: "2001::/23", name: "IETF protocol assignments", reach: "never" },
  { cidr: "2001:db8::/32", name: "documentation", reach: "never" },
  { cidr: "2002::/16", name: "6to4", reach: "never" },
  { cidr: "2620:4f:8000::/48", name: "AS112 direct delegation", reach: "never" },
  { cidr: "3fff::/20", name: "documentation", reach: "never" },
  { cidr: "5f00::/16", name: "segment routing SIDs", reach: "never" },
  { cidr: "fc00::/7", name: "unique-local", reach: "private" },
  { cidr: "fe80::/10", name: "link-local", reach: "never" },
  { cidr: "fec0::/10", name: "site-local (deprecated)", reach: "never" },
  { cidr: "ff00::/8", name: "multicast", reach: "never" },
];

const BLOCKS = SPECIAL_BLOCKS.map((block) => ({ ...block, range: ipaddr.parseCIDR(block.cidr) }));
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

/** The special block an address falls in (the most specific), or "not global" for IPv6 outside 2000::/3. */
export function specialBlockOf(
  address: ipaddr.IPv4 | ipaddr.IPv6,
): { name: string; reach: "private" | "never" } | undefined {
  let found: (typeof BLOCKS)[number] | undefined;
  for (const block of BLOCKS) {
    if (block.range[0].kind() !== address.kind()) continue;
    if (!address.match(block.range)) continue;
    if (!found || block.range[1] > found.range[1]) found = block;
  }
  if (found) return found;
  if (address.kind() === "ipv6" && !address.match(GLOBAL_UNICAST_V6)) {
    return { name: "outside IPv6 global unicast (2000::/3)", reach: "never" };
  }
  return undefined;
}
