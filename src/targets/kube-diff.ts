/**
 * A readable diff of two Kubernetes objects: one `path: old -> new` line per changed leaf.
 * Arrays of named items (containers, env, ports) are keyed by name, so a changed memory
 * limit reads `spec.template.spec.containers[api].resources.limits.memory: 256Mi -> 512Mi`.
 */

/** Fields the server rewrites on every write; they say nothing about the change. */
const NOISE = new Set(["metadata.managedFields", "metadata.resourceVersion", "metadata.generation", "metadata.uid", "metadata.creationTimestamp", "status"]);

type Flat = Map<string, string>;

function flatten(value: unknown, path: string, out: Flat): void {
  if (NOISE.has(path)) return;
  if (Array.isArray(value)) {
    const named = value.length > 0 && value.every((v) => v && typeof v === "object" && typeof (v as { name?: unknown }).name === "string");
    if (value.length === 0) out.set(path, "[]");
    value.forEach((v, i) => flatten(v, `${path}[${named ? (v as { name: string }).name : i}]`, out));
    return;
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && v !== null);
    for (const [k, v] of entries) flatten(v, path ? `${path}.${k}` : k, out);
    return;
  }
  if (value !== undefined && value !== null) out.set(path, typeof value === "string" ? value : JSON.stringify(value));
}

/** JSON round trip: client-node model objects (Dates, undefined fields) become what the wire carries. */
export function plain<T>(value: T): T {
  return value === undefined ? value : JSON.parse(JSON.stringify(value));
}

export function diffObjects(before: unknown, after: unknown): string {
  const a: Flat = new Map();
  const b: Flat = new Map();
  flatten(plain(before), "", a);
  flatten(plain(after), "", b);
  const lines: string[] = [];
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const k of keys) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === y) continue;
    if (x === undefined) lines.push(`+ ${k}: ${y}`);
    else if (y === undefined) lines.push(`- ${k}: ${x}`);
    else lines.push(`~ ${k}: ${x} -> ${y}`);
  }
  return lines.length ? lines.join("\n") : "(no change)";
}
