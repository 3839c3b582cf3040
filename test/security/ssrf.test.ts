import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import type { ServiceContext } from "../../src/service/context.js";
import { checkPushUrl } from "../../src/service/push.js";

/**
 * The SSRF rule, held against the IANA special-purpose registries as
 * published (transcribed here on their own, not read from the code's table,
 * so a block missing from the code fails this test):
 * https://www.iana.org/assignments/iana-ipv4-special-registry (and
 * multicast, RFC 5771), https://www.iana.org/assignments/iana-ipv6-special-registry
 * (and multicast, RFC 4291; IPv4-compatible ::/96 and site-local fec0::/10,
 * both deprecated). `private` blocks open with CONVEYOR_ALLOW_PRIVATE_PUSH.
 */
const REGISTRY: [cidr: string, opensWithPrivate: boolean][] = [
  ["0.0.0.0/8", false],
  ["0.0.0.0/32", false],
  ["10.0.0.0/8", true],
  ["100.64.0.0/10", true],
  ["127.0.0.0/8", true],
  ["169.254.0.0/16", false],
  ["172.16.0.0/12", true],
  ["192.0.0.0/24", false],
  ["192.0.0.0/29", false],
  ["192.0.0.8/32", false],
  ["192.0.0.9/32", false],
  ["192.0.0.10/32", false],
  ["192.0.0.170/32", false],
  ["192.0.0.171/32", false],
  ["192.0.2.0/24", false],
  ["192.31.196.0/24", false],
  ["192.52.193.0/24", false],
  ["192.88.99.0/24", false],
  ["192.168.0.0/16", true],
  ["192.175.48.0/24", false],
  ["198.18.0.0/15", false],
  ["198.51.100.0/24", false],
  ["203.0.113.0/24", false],
  ["224.0.0.0/4", false],
  ["240.0.0.0/4", false],
  ["255.255.255.255/32", false],
  ["::1/128", true],
  ["::/128", false],
  ["::/96", false],
  ["::ffff:0:0/96", false], // IPv4-mapped: judged as the IPv4 address, sampled below from non-public ones
  ["64:ff9b::/96", false],
  ["64:ff9b:1::/48", false],
  ["100::/64", false],
  ["100:0:0:1::/64", false],
  ["2001::/23", false],
  ["2001::/32", false],
  ["2001:1::1/128", false],
  ["2001:1::2/128", false],
  ["2001:1::3/128", false],
  ["2001:2::/48", false],
  ["2001:3::/32", false],
  ["2001:4:112::/48", false],
  ["2001:10::/28", false],
  ["2001:20::/28", false],
  ["2001:30::/28", false],
  ["2001:db8::/32", false],
  ["2002::/16", false],
  ["2620:4f:8000::/48", false],
  ["3fff::/20", false],
  ["5f00::/16", false],
  ["fc00::/7", true],
  ["fe80::/10", false],
  ["fec0::/10", false],
  ["ff00::/8", false],
];

/** The first, last and a middle address of a block. */
function samples(cidr: string): string[] {
  const [base, bits] = ipaddr.parseCIDR(cidr);
  const bytes = base.toByteArray();
  const hostBits = bytes.length * 8 - bits;
  const at = (fill: (bit: number) => number) =>
    bytes.map((byte, index) => {
      let out = byte;
      for (let bit = 0; bit < 8; bit++) {
        const position = index * 8 + bit;
        if (position >= bytes.length * 8 - hostBits) {
          const mask = 0x80 >> bit;
          out = fill(position) ? out | mask : out & ~mask;
        }
      }
      return out;
    });
  const first = at(() => 0);
  const last = at(() => 1);
  const middle = at((position) => (position * 7) % 3);
  return [first, last, middle].map((array) => ipaddr.fromByteArray(array).toString());
}

/** Every way `new URL` accepts to write an IPv4 address as a host. */
function ipv4Forms(address: string): string[] {
  const parts = address.split(".").map(Number) as [number, number, number, number];
  const value = ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
  return [
    address,
    String(value),
    `0x${value.toString(16)}`,
    parts.map((part) => `0${part.toString(8)}`).join("."),
    parts.map((part) => `0x${part.toString(16)}`).join("."),
    `${parts[0]}.${(parts[1] << 16) + (parts[2] << 8) + parts[3]}`,
    `${parts[0]}.${parts[1]}.${(parts[2] << 8) + parts[3]}`,
    `[::ffff:${address}]`,
    `[0:0:0:0:0:ffff:${address}]`,
  ];
}

/** Every way `new URL` accepts to write an IPv6 address as a host. */
function ipv6Forms(address: string): string[] {
  const parsed = ipaddr.IPv6.parse(address);
  const full = parsed.parts.map((part) => part.toString(16).padStart(4, "0")).join(":");
  const forms = [
    `[${parsed.toString()}]`,
    `[${full}]`,
    `[${full.toUpperCase()}]`,
    `[${parsed.toNormalizedString()}]`,
  ];
  const bytes = parsed.toByteArray();
  if (bytes.slice(0, 12).every((byte, index) => byte === 0 || (index >= 10 && byte === 0xff))) {
    forms.push(`[${full.slice(0, 30)}${bytes.slice(12).join(".")}]`);
  }
  return forms;
}

const context = (allowPrivate: boolean) =>
  ({
    push: { allowPrivate, resolveHost: () => Promise.reject(new Error("no DNS in this test")) },
  }) as unknown as ServiceContext;

const accepted = async (host: string, allowPrivate: boolean) => {
  const url = `https://${host}/hook`;
  expect(() => new URL(url), url).not.toThrow();
  return (await checkPushUrl(context(allowPrivate), url)).ok;
};

describe("push URLs against the IANA special-purpose registries", () => {
  it("refuses every special-purpose address in every textual form, private ones opening only when allowed", async () => {
    let checked = 0;
    for (const [cidr, opensWithPrivate] of REGISTRY) {
      const addresses =
        cidr === "::ffff:0:0/96"
          ? ["::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0"]
          : samples(cidr);
      for (const address of addresses) {
        const forms = address.includes(":") ? ipv6Forms(address) : ipv4Forms(address);
        for (const form of forms) {
          expect([cidr, form, await accepted(form, false)]).toEqual([cidr, form, false]);
          if (cidr === "::ffff:0:0/96") continue;
          expect([cidr, form, await accepted(form, true)]).toEqual([cidr, form, opensWithPrivate]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it("accepts ordinary global unicast addresses in those forms", async () => {
    for (const address of ["8.8.8.8", "1.1.1.1", "52.239.1.2", "2606:4700::1111", "2a01:111:f400::1"]) {
      const forms = address.includes(":") ? ipv6Forms(address) : ipv4Forms(address);
      for (const form of forms) expect([form, await accepted(form, false)]).toEqual([form, true]);
    }
  });
});
