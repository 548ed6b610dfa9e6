import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * PagerDuty v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, each an HMAC-SHA256 of the
 * raw body under one of the subscription's secrets (two while a secret rotates). Accepted
 * when any listed signature matches any of our secrets; every comparison is constant-time.
 */
export function verifyPagerDutySignature(body: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (!header || secrets.length === 0) return false;
  const given: Buffer[] = [];
  for (const part of header.split(",")) {
    const m = /^\s*v1=([0-9a-fA-F]{64})\s*$/.exec(part);
    if (m) given.push(Buffer.from(m[1]!, "hex"));
  }
  if (given.length === 0) return false;
  let ok = false;
  for (const secret of secrets) {
    const expected = createHmac("sha256", secret).update(body).digest();
    // No early return: the time taken does not depend on which signature matched.
    for (const g of given) ok = timingSafeEqual(expected, g) || ok;
  }
  return ok;
}

/** The signature header value PagerDuty would send for this body (tests and tools). */
export function signPagerDuty(body: string | Buffer, ...secrets: string[]): string {
  return secrets.map((s) => `v1=${createHmac("sha256", s).update(body).digest("hex")}`).join(",");
}

/**
 * Alertmanager: `http_config.authorization` (Bearer) or `basic_auth` (any user; the password
 * is the token). Compared as SHA-256 digests, so neither length nor content leaks in timing.
 */
export function verifyAlertmanagerAuth(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^\s*(Bearer|Basic)\s+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  let presented = m[2]!;
  if (m[1]!.toLowerCase() === "basic") {
    const decoded = Buffer.from(presented, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return false;
    presented = decoded.slice(colon + 1);
  }
  return timingSafeEqual(digest(presented), digest(token));
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** `PAGERDUTY_WEBHOOK_SECRET` may list several secrets, comma-separated, while belay's side rotates. */
export function splitSecrets(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
