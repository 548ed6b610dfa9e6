import type { CliIo } from "./io.ts";

/** `belay drill list | run ID`. (Placeholder until the drills land.) */
export async function drillCommand(_args: string[], io: CliIo): Promise<number> {
  io.err("drills are not built into this version yet");
  return 1;
}
