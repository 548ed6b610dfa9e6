import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32: easy to read aloud and type

/** `run_k3v9x2m8q1ab`: 60 random bits, short enough to type in a terminal at 3 a.m. */
export function newId(prefix: string): string {
  const bytes = randomBytes(12);
  let s = "";
  for (const b of bytes) s += ALPHABET[b & 31];
  return `${prefix}_${s}`;
}
