import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/belay.mjs", import.meta.url));

/** The real binary's stdout: what `belay ... --json | jq` reads. */
function belayJson(args: string[]): unknown {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, BELAY_ENV_FILE: "", BELAY_CONFIG: "" }, encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe("--json output survives the terminal's redaction", () => {
  it("belay playbooks show --json parses (a param's \"secret\": false was printed as \"secret\": [redacted])", () => {
    const pb = belayJson(["playbooks", "show", "redis-big-keys", "--json"]) as { id: string };
    expect(pb.id).toBe("redis-big-keys");
    expect(JSON.stringify(pb)).toContain('"secret":false');
  }, 90_000);
});
