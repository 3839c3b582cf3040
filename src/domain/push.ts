import { createHmac, hkdfSync } from "node:crypto";
import ipaddr from "ipaddr.js";
import { specialBlockOf } from "./special-addresses.js";

/**
 * Push delivery rules: which addresses a webhook may be sent to (SSRF), and
 * how a delivery is signed (Standard Webhooks).
 */

/** Cloud metadata endpoints that sit in ranges `allowPrivate` would otherwise open. */
const METADATA_ADDRESSES = new Set(["fd00:ec2::254", "100.100.100.200"]);

export type TargetVerdict = { allowed: true } | { allowed: false; reason: string };

/**
 * Only ordinary global unicast addresses may receive pushes: nothing in a
 * special-purpose block (`special-addresses.ts`), but for the private,
 * loopback, unique-local and shared blocks where `allowPrivate` (a local
 * host). The IPv6 forms that embed an IPv4 address other than the mapped
 * one (IPv4-compatible, NAT64, 6to4, Teredo) are refused outright; an
 * IPv4-mapped address is judged as the IPv4 address it maps.
 */
export function pushAddressVerdict(address: string, allowPrivate: boolean): TargetVerdict {
  if (!ipaddr.isValid(address)) return { allowed: false, reason: `"${address}" is not an IP address` };
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const normalized = parsed.toString();
  if (METADATA_ADDRESSES.has(normalized))
    return { allowed: false, reason: `${normalized} is a cloud metadata address` };
  const block = specialBlockOf(parsed);
  if (!block) return { allowed: true };
  if (block.reach === "private" && allowPrivate) return { allowed: true };
  return {
    allowed: false,
    reason:
      block.reach === "private"
        ? `${normalized} is a ${block.name} address; push URLs must be public (a local host opens private ones with CONVEYOR_ALLOW_PRIVATE_PUSH=true)`
        : `${normalized} is a ${block.name} address, which push never reaches`,
  };
}

/** A push URL's own form: https, or http only where private targets are allowed (a local host). */
export function pushUrlVerdict(url: URL, allowPrivate: boolean): TargetVerdict {
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) {
    return { allowed: false, reason: "push URLs must use https" };
  }
  if (url.username || url.password) return { allowed: false, reason: "push URLs must not carry credentials" };
  return { allowed: true };
}

/**
 * A queue's signing secret, derived from the service's master secret with
 * HKDF (salt: the queue id; info: the secret's version), in the Standard
 * Webhooks form `whsec_` + base64. Nothing per queue is stored but the
 * version, and bumping it rotates the secret.
 */
export function deriveSigningSecret(master: Buffer, queueId: string, version: number): string {
  const key = Buffer.from(hkdfSync("sha256", master, queueId, `conveyor push signing v${version}`, 32));
  return `whsec_${key.toString("base64")}`;
}

/** `webhook-signature` per Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const mac = createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return `v1,${mac}`;
}
