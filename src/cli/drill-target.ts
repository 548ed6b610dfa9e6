import { redactText } from "../sinks.ts";
import { UsageError } from "./io.ts";

type Stores = Record<string, Record<string, { url: string; drill?: unknown }>>;

/** host, port (the scheme's default when absent) and database of a data-store URL; credentials ignored. */
function where(url: string): string | null {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol.startsWith("redis") ? "6379" : u.protocol.startsWith("postgres") ? "5432" : "");
    const db = u.pathname.replace(/^\//, "") || (u.protocol.startsWith("redis") ? "0" : "");
    return `${u.protocol.replace(/s?:$/, "")}//${u.hostname.toLowerCase()}:${port}/${db}`;
  } catch {
    return null;
  }
}

/**
 * `drill run --target`: a configured target's name, or (for a drill on a data store) its URL,
 * which names the configured target with that address. A URL no target has is refused: a live
 * drill injects faults only into targets the config marks `drill: true`, never into any
 * address typed on a command line. Other kinds (an HTTP probe's URL) pass as given.
 */
export function drillTargetName(kind: string, target: string, stores: Stores): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target) || !(kind in stores)) return target;
  const wanted = where(target);
  if (!wanted) throw new UsageError(`--target ${redactText(target)}: not a URL belay can read; give the ${kind} target's name or its URL (${kind}://host:port)`);
  const names = Object.entries(stores[kind] ?? {}).filter(([, t]) => where(t.url) === wanted).map(([name]) => name);
  if (names.length === 1) return names[0]!;
  if (names.length > 1) throw new UsageError(`--target ${redactText(target)}: ${kind} targets ${names.join(", ")} all have this URL; give one by name`);
  throw new UsageError(
    `--target ${redactText(target)}: no ${kind} target in BELAY_CONFIG has this URL. Add it (targets.${kind}.NAME: { url: ..., drill: true }) and pass its name or URL: a live drill only injects into targets marked for drills`,
  );
}
