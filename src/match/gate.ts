/*
 * A cheap, conservative prefilter for text patterns, so that an alert runs only the few
 * regexps that could match instead of all ~200.
 *
 * From a pattern's source we derive a gate: a literal word the pattern requires at the start
 * of a word (after \b, whitespace or a punctuation literal). When the pattern also requires
 * the word to end there, the gate is the whole word; otherwise its first three letters.
 * Text is split into tokens ([a-z0-9_]+, the words \b sees); a pattern can match only if
 * some token equals its word, or starts with its three letters. A pattern whose requirement
 * cannot be derived has no gate and always runs. So the gate never changes a result, only
 * skips work (a unit test checks that gated and ungated matching agree).
 */

const WORD = /^[a-z0-9_]$/;
const WORD_KEYS = 2 ** 24; // whole-word keys live above the 24-bit prefix keys

/** Gate keys of a pattern (any one present lets it run), or null when it must always run. */
export function gateKeys(source: string): number[] | null {
  return alternativesKeys(source, false);
}

/* Keys for a disjunction: every alternative must be gated, else nothing is. */
function alternativesKeys(source: string, startsAtWord: boolean): number[] | null {
  const keys: number[] = [];
  for (const branch of splitTopLevel(source)) {
    const branchKeys = branchGate(branch, startsAtWord);
    if (branchKeys === null) return null;
    keys.push(...branchKeys);
  }
  return keys;
}

function prefixKey(s: string, i: number): number {
  return (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8) | s.charCodeAt(i + 2);
}

/* A whole word as prefix, length and last character: cheap, and collisions only let more through. */
function wordKey(s: string, start: number, end: number): number {
  const len = Math.min(end - start, 63);
  const first = len >= 3 ? prefixKey(s, start) : (s.charCodeAt(start) << 16) | (s.charCodeAt(start + 1) << 8);
  return WORD_KEYS + ((len << 7) | (s.charCodeAt(end - 1) & 127)) * 2 ** 24 + first;
}

function isWordCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;
}

/** Calls `visit` with every key the tokens of lowercase `text` present. */
export function forEachTokenKey(text: string, visit: (key: number) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isWordCode(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && isWordCode(text.charCodeAt(i))) i++;
    if (i - start >= 2) visit(wordKey(text, start, i));
    if (i - start >= 3) visit(prefixKey(text, start));
  }
}

/* Splits at `|` outside groups and classes. */
function splitTopLevel(source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) {
      out.push(source.slice(start, i));
      start = i + 1;
    }
  }
  out.push(source.slice(start));
  return out;
}

/* Index just past the group or class that opens at `i`. */
function skipBracketed(source: string, i: number): number {
  const open = source[i]!;
  if (open === "[") {
    for (let j = i + 1; j < source.length; j++) {
      if (source[j] === "\\") j++;
      else if (source[j] === "]") return j + 1;
    }
    return source.length;
  }
  let depth = 0;
  let inClass = false;
  for (let j = i; j < source.length; j++) {
    const c = source[j]!;
    if (c === "\\") j++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return j + 1;
  }
  return source.length;
}

/* What quantifier follows at `i`: "none", "optional" (?, *, {0,...}) or "repeat" (+, {n>=1}). */
function quantifierAt(source: string, i: number): { kind: "none" | "optional" | "repeat"; end: number } {
  const c = source[i];
  let kind: "none" | "optional" | "repeat" = "none";
  let end = i;
  if (c === "?" || c === "*") (kind = "optional"), (end = i + 1);
  else if (c === "+") (kind = "repeat"), (end = i + 1);
  else if (c === "{") {
    const m = /^\{(\d+)(,\d*)?\}/.exec(source.slice(i));
    if (m) (kind = m[1] === "0" ? "optional" : "repeat"), (end = i + m[0].length);
  }
  if (kind !== "none" && source[end] === "?") end++; // lazy
  return { kind, end };
}

/*
 * The gate of one branch: the longest literal word it requires as a whole token, else the
 * longest (three or more letters) it requires at the start of a token, else the keys of a
 * required group whose every alternative is gated (`\b(coredns|kube-dns)`), else null.
 */
function branchGate(branch: string, startsAtWord: boolean): number[] | null {
  let whole: string | null = null;
  let prefix: string | null = null;
  let groupKeys: number[] | null = null;
  let word = "";
  let eligible = false; // the current word began at a word start
  let boundary = startsAtWord; // the next word character would begin a word
  const finish = (endsWord: boolean) => {
    if (eligible && endsWord && word.length >= 2 && (whole === null || word.length > whole.length)) whole = word;
    if (eligible && word.length >= 3 && (prefix === null || word.length > prefix.length)) prefix = word;
    word = "";
    eligible = false;
  };
  let i = 0;
  while (i < branch.length) {
    const c = branch[i]!;
    let next = i + 1;
    let literal: string | null = null;
    if (c === "\\") {
      const e = branch[i + 1] ?? "";
      next = i + 2;
      if (e === "b") {
        finish(true);
        boundary = true;
      } else if (e === "s" || e === "n" || e === "t" || e === "r") {
        // Whitespace ends a word and lets one begin, unless it is optional.
        const q = quantifierAt(branch, next);
        finish(q.kind !== "optional");
        boundary = q.kind !== "optional";
        next = q.end;
      } else if (/[A-Za-z0-9]/.test(e)) {
        finish(false); // \d, \w, \B, \x.., \u....: nothing usable
        boundary = false;
        if (e === "x") next += 2;
        if (e === "u") next += 4;
        next = quantifierAt(branch, next).end;
      } else {
        literal = e; // an escaped punctuation character stands for itself
      }
    } else if (c === "(" || c === "[") {
      finish(false);
      next = skipBracketed(branch, i);
      const q = quantifierAt(branch, next);
      if (c === "(" && boundary && groupKeys === null && q.kind !== "optional") {
        const inner = branch.slice(i + 1, next - 1);
        if (!/^\?[=!<]/.test(inner) || /^\?<[A-Za-z_]/.test(inner)) {
          groupKeys = alternativesKeys(inner.replace(/^\?(:|<[A-Za-z_][A-Za-z0-9_]*>)/, ""), true);
        }
      }
      boundary = false;
      next = q.end;
    } else if (c === "^" || c === "." || c === "$") {
      finish(c === "$");
      boundary = false;
      next = quantifierAt(branch, next).end;
    } else {
      literal = c;
    }
    if (literal !== null) {
      const lower = literal.toLowerCase();
      const q = quantifierAt(branch, next);
      if (q.kind === "optional") {
        finish(false);
        boundary = false;
      } else if (!WORD.test(lower)) {
        finish(true);
        boundary = q.kind === "none";
      } else {
        if (word === "") eligible = boundary;
        word += lower;
        boundary = false;
        if (q.kind === "repeat") finish(false);
      }
      next = q.end;
    }
    i = next;
  }
  finish(false);
  if (whole !== null) {
    const w: string = whole;
    return [wordKey(w, 0, w.length)];
  }
  if (prefix !== null) return [prefixKey(prefix, 0)];
  return groupKeys;
}

/**
 * For patterns that may match inside a word (no \b): substrings, one per top-level
 * alternative, of which the lowercase text must contain at least one. Null when some
 * alternative has no literal run of three or more characters.
 */
export function requiredSubstrings(source: string): string[] | null {
  const out: string[] = [];
  for (const branch of splitTopLevel(source)) {
    let best = "";
    let run = "";
    const cut = () => {
      if (run.length > best.length) best = run;
      run = "";
    };
    let i = 0;
    while (i < branch.length) {
      const c = branch[i]!;
      let next = i + 1;
      let literal: string | null = null;
      if (c === "\\") {
        const e = branch[i + 1] ?? "";
        next = i + 2;
        if (/[A-Za-z0-9]/.test(e)) {
          cut();
          if (e === "x") next += 2;
          if (e === "u") next += 4;
          next = quantifierAt(branch, next).end;
        } else literal = e;
      } else if (c === "(" || c === "[") {
        cut();
        next = quantifierAt(branch, skipBracketed(branch, i)).end;
      } else if (c === "^" || c === "$" || c === ".") {
        cut();
        next = quantifierAt(branch, next).end;
      } else literal = c;
      if (literal !== null) {
        const q = quantifierAt(branch, next);
        if (q.kind === "optional") cut();
        else {
          run += literal.toLowerCase();
          if (q.kind === "repeat") cut();
        }
        next = q.end;
      }
      i = next;
    }
    cut();
    if (best.length < 3) return null;
    out.push(best);
  }
  return out;
}

/**
 * The character trigrams of one text, hashed into a small stamped table: a superset test
 * for "may this text contain that substring?" at a few table reads, instead of a scan.
 * Reused across alerts (load() forgets the previous text in O(1)).
 */
export class Trigrams {
  private readonly table = new Uint32Array(1 << 16);
  private stamp = 0;

  /** Remembers the trigrams of lowercase `text`. */
  load(text: string): void {
    if (this.stamp === 0xffffffff) (this.stamp = 0), this.table.fill(0);
    const stamp = ++this.stamp;
    for (let i = 0; i + 2 < text.length; i++) this.table[hash3(text, i)] = stamp;
  }

  /** False only if lowercase `needle` (three or more characters) cannot occur in the text. */
  mayContain(needle: string): boolean {
    const last = needle.length - 3;
    return this.table[hash3(needle, 0)] === this.stamp && this.table[hash3(needle, last >> 1)] === this.stamp && this.table[hash3(needle, last)] === this.stamp;
  }
}

function hash3(s: string, i: number): number {
  return (Math.imul(s.charCodeAt(i), 961) + Math.imul(s.charCodeAt(i + 1), 31) + s.charCodeAt(i + 2)) & 0xffff;
}
