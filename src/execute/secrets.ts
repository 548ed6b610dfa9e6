/**
 * Sealing execution inputs that must survive a move between processes but must not be
 * stored in clear: secret params, and the raw output of a step whose stored copy had to be
 * redacted. AES-256-GCM under a key from the environment (BELAY_SECRET_KEY); the database
 * never sees it. Sealed text names the key id it was sealed with, so a key can be rotated:
 * the new key seals, the old ones (BELAY_SECRET_KEYS_OLD) still open what they sealed.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { BelayError } from "../errors.ts";

export interface Keyring {
  /** The key new values are sealed with. */
  current: { id: string; key: Buffer };
  /** Every key that may open a value, by id (the current one included). */
  keys: ReadonlyMap<string, Buffer>;
}

/** A 32-byte key given as base64 or hex. */
export function parseKey(text: string, name: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
  if (key.length !== 32) {
    throw new BelayError("config.invalid", `${name} must be 32 bytes, as 64 hex digits or base64 (make one with \`openssl rand -base64 32\`); it decodes to ${key.length} bytes`);
  }
  return key;
}

/** A key's id: the first 8 hex digits of its SHA-256 (names the key without revealing it). */
export function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

export function makeKeyring(current: Buffer, old: readonly Buffer[] = []): Keyring {
  const keys = new Map<string, Buffer>();
  for (const k of [current, ...old]) keys.set(keyId(k), k);
  return { current: { id: keyId(current), key: current }, keys };
}

/** `v1.<key id>.<iv>.<tag>.<ciphertext>` (base64url parts) of the JSON of value. */
export function seal(keyring: Keyring, value: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyring.current.key, iv);
  const ct = Buffer.concat([cipher.update(JSON.stringify(value ?? null), "utf8"), cipher.final()]);
  return ["v1", keyring.current.id, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), ct.toString("base64url")].join(".");
}

export function unseal(keyring: Keyring, sealed: string): unknown {
  const [v, id, iv, tag, ct] = sealed.split(".");
  if (v !== "v1" || !id || !iv || !tag || ct === undefined) throw new BelayError("input.invalid", "a sealed value is not in the v1 format");
  const key = keyring.keys.get(id);
  if (!key) {
    throw new BelayError(
      "config.invalid",
      `a stored secret was sealed with key ${id}, which is neither BELAY_SECRET_KEY nor in BELAY_SECRET_KEYS_OLD; add that key to BELAY_SECRET_KEYS_OLD`,
    );
  }
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
  decipher.setAuthTag(Buffer.from(tag, "base64url"));
  const text = Buffer.concat([decipher.update(Buffer.from(ct, "base64url")), decipher.final()]).toString("utf8");
  return JSON.parse(text);
}
