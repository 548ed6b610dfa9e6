import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Cookie values sealed with AES-256-GCM: the browser holds them but can neither read nor
 * change them. Each purpose (the session, a sign-in in progress) has its own key derived from
 * BELAY_CONSOLE_SESSION_KEY, and the cookie's name is the additional data, so one cookie can
 * never be replayed as another.
 */
export interface Sealer {
  seal(name: string, payload: object): string;
  /** The payload, or null when the value is missing, forged, truncated or sealed under another key. */
  open(name: string, value: string | undefined): Record<string, unknown> | null;
}

export function createSealer(secret: Buffer): Sealer {
  const keyFor = (name: string) => Buffer.from(hkdfSync("sha256", secret, "belay-console", `cookie ${name}`, 32));
  const keys = new Map<string, Buffer>();
  const key = (name: string) => {
    let k = keys.get(name);
    if (!k) keys.set(name, (k = keyFor(name)));
    return k;
  };
  return {
    seal(name, payload) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key(name), iv);
      cipher.setAAD(Buffer.from(name));
      const body = Buffer.concat([cipher.update(JSON.stringify(payload), "utf8"), cipher.final()]);
      return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
    },
    open(name, value) {
      if (!value || value.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(value)) return null;
      const raw = Buffer.from(value, "base64url");
      if (raw.length < 12 + 16 + 2) return null;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key(name), raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(name));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
        const parsed: unknown = JSON.parse(text);
        return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
      } catch {
        // A bad tag is a forged or foreign cookie: the same as none.
        return null;
      }
    },
  };
}
