import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32: easy to read aloud and type

/*
 * Random bytes are drawn from the CSPRNG 4 KiB at a time (one call per ~340 ids instead of one
 * per id: the call, not the bytes, was the cost); each byte is used once.
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `run_k3v9x2m8q1ab`: 60 random bits, short enough to type in a terminal at 3 a.m. */
export function newId(prefix: string): string {
  if (offset + 12 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  let s = "";
  for (let i = offset; i < offset + 12; i++) s += ALPHABET[pool[i]! & 31];
  offset += 12;
  return `${prefix}_${s}`;
}
