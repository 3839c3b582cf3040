import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  deriveSigningSecret,
  pushAddressVerdict,
  pushUrlVerdict,
  signWebhook,
} from "../../src/domain/push.js";

describe("push targets (SSRF)", () => {
  const verdict = (address: string, allowPrivate = false) =>
    pushAddressVerdict(address, allowPrivate).allowed;

  it.each([["8.8.8.8"], ["2606:4700::1111"]])("allows the public address %s", (address) => {
    expect(verdict(address)).toBe(true);
  });

  it.each([
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["192.168.1.10", "private"],
    ["127.0.0.1", "loopback"],
    ["100.64.0.1", "carrierGradeNat"],
    ["::1", "loopback"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["::ffff:10.0.0.1", "private (IPv4-mapped)"],
    ["::ffff:127.0.0.1", "loopback (IPv4-mapped)"],
  ])("refuses %s (%s), unless private targets are allowed", (address) => {
    expect(verdict(address)).toBe(false);
    expect(verdict(address, true)).toBe(true);
  });

  it.each([
    ["169.254.169.254", "the cloud metadata service (link-local)"],
    ["169.254.1.1", "link-local"],
    ["fe80::1", "IPv6 link-local"],
    ["fd00:ec2::254", "AWS's IPv6 metadata address"],
    ["100.100.100.200", "Alibaba's metadata address"],
    ["::ffff:169.254.169.254", "metadata, IPv4-mapped"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["64:ff9b::a00:1", "NAT64 of a private address"],
    ["2002:a00:1::", "6to4 of a private address"],
  ])("never allows %s (%s), even with private targets allowed", (address) => {
    expect(verdict(address, true)).toBe(false);
  });

  it("requires https, and allows http only where private targets are", () => {
    expect(pushUrlVerdict(new URL("https://example.com/hook"), false).allowed).toBe(true);
    expect(pushUrlVerdict(new URL("http://example.com/hook"), false).allowed).toBe(false);
    expect(pushUrlVerdict(new URL("http://127.0.0.1:9000/hook"), true).allowed).toBe(true);
    expect(pushUrlVerdict(new URL("https://user:pass@example.com/"), false).allowed).toBe(false);
  });
});

describe("signing", () => {
  const master = Buffer.alloc(32, 7);

  it("derives a Standard Webhooks secret per queue and version", () => {
    const secret = deriveSigningSecret(master, "q_1", 1);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(deriveSigningSecret(master, "q_1", 1)).toBe(secret);
    expect(deriveSigningSecret(master, "q_2", 1)).not.toBe(secret);
    expect(deriveSigningSecret(master, "q_1", 2)).not.toBe(secret);
  });

  it("signs so that an independent Standard Webhooks implementation verifies it", () => {
    const secret = deriveSigningSecret(master, "q_1", 1);
    const timestamp = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ orderId: 42 });
    const headers = {
      "webhook-id": "msg_1",
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signWebhook(secret, "msg_1", timestamp, body),
    };
    expect(new Webhook(secret).verify(body, headers)).toEqual({ orderId: 42 });
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
    expect(() => new Webhook(deriveSigningSecret(master, "q_1", 2)).verify(body, headers)).toThrow();
  });
});
