import type { CliIo } from "./io.ts";

/** `belay postmortem INCIDENT [--format md|json]`. (Placeholder until post-incident review lands.) */
export async function postmortemCommand(_args: string[], io: CliIo): Promise<number> {
  io.err("postmortem drafts are not built into this version yet");
  return 1;
}
