import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { memoryIo } from "../../src/cli/io.ts";
import { runCli } from "../../src/cli/main.ts";
import { isBelayError } from "../../src/errors.ts";
import { labelsFingerprint } from "../../src/ingest/alertmanager-normalise.ts";
import { jsonPath, parseAlertFile } from "../../src/ingest/parse-file.ts";
import { playbook, type AnyPlaybook } from "../../src/sdk/playbook.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/alerts/", import.meta.url));
const fixture = (file: string) => JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as unknown;

const PLAYBOOKS = [
  playbook({ id: "redis-maxmemory-policy", title: "t", summary: "s", failureModes: ["redis-maxmemory"], params: z.object({ redis: z.string() }), fromAlert: (a) => ({ redis: a.labels.instance }) }).diagnose("x", () => 1),
  playbook({ id: "node-cordon-drain", title: "t", summary: "s", failureModes: ["node-not-ready"], params: z.object({}) }).diagnose("x", () => 1),
] as unknown as AnyPlaybook[];

function expectInvalid(fn: () => unknown, ...parts: string[]): void {
  try {
    fn();
  } catch (err) {
    expect(isBelayError(err, "input.invalid")).toBe(true);
    for (const p of parts) expect((err as Error).message).toContain(p);
    return;
  }
  throw new Error("expected input.invalid");
}

describe("parseAlertFile", () => {
  it("reads every alert of an Alertmanager v4 group, keying status on status and not on the zero endsAt", () => {
    const alerts = parseAlertFile(fixture("alertmanager/node-filesystem-space-filling-up.json"), "f.json");
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({ source: "alertmanager", status: "firing", endsAt: null, severity: "warning" });
    expect(alerts[0]!.title).toBe("NodeFilesystemSpaceFillingUp: Filesystem is predicted to run out of space within the next 24 hours.");
    expect(alerts[0]!.groupKey).toContain('alertname="NodeFilesystemSpaceFillingUp"');
    expect(alerts[0]!.links.map((l) => l.text)).toEqual(["source", "runbook"]);
    expect(alerts[0]!.fingerprint).toBe(labelsFingerprint(alerts[0]!.labels));
    expect(alerts[1]!.labels.mountpoint).toBe("/var/lib/containerd");
  });

  it("reads a PagerDuty v3 incident: title, service, resolved", () => {
    const [a] = parseAlertFile(fixture("pagerduty/13-redis-oom-resolved.json"), "p.json");
    expect(a).toMatchObject({ source: "pagerduty", status: "resolved", service: "Session cache", title: expect.stringContaining("OOM command not allowed") });
    expect(a!.fingerprint).toMatch(/^pagerduty:/);
  });

  it("reads a normalised alert and a list of them", () => {
    expect(parseAlertFile(fixture("normalised/slash-redis-oom.json"), "n.json")).toHaveLength(1);
    expect(parseAlertFile(fixture("normalised/slash-batch.json"), "b.json")).toHaveLength(3);
  });

  it("names the file, the JSON path and what was expected when a field is bad", () => {
    const payload = fixture("alertmanager/redis-down.json") as { alerts: { status: string }[] };
    payload.alerts[0]!.status = "burning";
    expectInvalid(() => parseAlertFile(payload, "bad.json"), "bad.json", "Alertmanager webhook", "$.alerts[0].status", '"firing"');
    expectInvalid(() => parseAlertFile({ version: "3", groupKey: "x", alerts: [] }, "v3.json"), "v3.json", "$.version", '"4"');
    expectInvalid(() => parseAlertFile({ event: { id: "1", event_type: "incident.triggered", data: { id: "P", type: "incident" } } }, "pd.json"), "pd.json", "$.event.data.title");
    expectInvalid(() => parseAlertFile({ source: "slack", fingerprint: "", status: "firing" }, "n.json"), "$.fingerprint");
    expectInvalid(() => parseAlertFile([], "e.json"), "at least one alert");
    expectInvalid(() => parseAlertFile({ hello: "world" }, "w.json"), "w.json", "not an alert file");
    expectInvalid(() => parseAlertFile(42, "n.json"), "not an alert file");
  });

  it("writes JSON paths the usual way", () => {
    expect(jsonPath(["alerts", 0, "labels", "app.kubernetes.io/name"])).toBe('$.alerts[0].labels["app.kubernetes.io/name"]');
  });
});

describe("belay match", () => {
  async function run(args: string[], stdin?: string) {
    const io = memoryIo({}, stdin === undefined ? {} : { stdin });
    const code = await runCli(["match", ...args], io, { loadPlaybooks: async () => PLAYBOOKS });
    return { code, out: io.outLines.join("\n"), err: io.errLines.join("\n") };
  }

  it("prints exactly the JSON contract", async () => {
    const { code, out } = await run(["--alert", join(FIXTURES, "alertmanager/redis-out-of-configured-maxmemory.json"), "--json"]);
    expect(code).toBe(0);
    const parsed = JSON.parse(out);
    expect(Object.keys(parsed)).toEqual(["alerts"]);
    expect(Object.keys(parsed.alerts[0])).toEqual(["fingerprint", "title", "status", "failureMode", "candidates", "closest"]);
    expect(parsed.alerts[0].status).toBe("firing");
    expect(parsed.alerts[0].failureMode).toBe("redis-maxmemory");
    expect(Object.keys(parsed.alerts[0].candidates[0])).toEqual(["playbook", "score", "reasons", "params"]);
    expect(parsed.alerts[0].candidates[0].playbook).toBe("redis-maxmemory-policy");
  });

  it("reports null and no candidates when nothing fits, and nothing to do for a resolved alert", async () => {
    const watchdog = JSON.parse((await run([`--alert=${join(FIXTURES, "alertmanager/watchdog.json")}`, "--json"])).out);
    expect(watchdog.alerts[0]).toMatchObject({ failureMode: null, candidates: [] });
    const resolved = JSON.parse((await run(["--json", "--alert", join(FIXTURES, "alertmanager/redis-out-of-configured-maxmemory-resolved.json")])).out);
    expect(resolved.alerts[0]).toMatchObject({ failureMode: "redis-maxmemory", candidates: [] });
  });

  it("prints a readable table without --json", async () => {
    const { code, out } = await run(["--alert", join(FIXTURES, "alertmanager/kube-node-not-ready.json")]);
    expect(code).toBe(0);
    expect(out).toContain("failure mode: node-not-ready");
    expect(out).toMatch(/1\. node-cordon-drain\s+0\.\d\d\s+failure mode node-not-ready; alertname KubeNodeNotReady \(kubernetes-mixin\)/);
  });

  it("matches free text from the command line, with the params each playbook takes from it (failed before: free text was an unexpected argument)", async () => {
    const r = await run(["RedisOutOfConfiguredMaxmemory", "instance=cache-1", "OOM", "command", "not", "allowed", "--json"]);
    expect(r.code).toBe(0);
    const a = JSON.parse(r.out).alerts[0];
    expect(a).toMatchObject({ status: "firing", failureMode: "redis-maxmemory", closest: [] });
    expect(a.candidates[0]).toMatchObject({ playbook: "redis-maxmemory-policy", params: { redis: "cache-1" } });
    const table = (await run(["RedisOutOfConfiguredMaxmemory", "instance=cache-1"])).out;
    expect(table).toMatch(/1\. redis-maxmemory-policy .*\n\s+params: redis=cache-1/);
  });

  it("--alert - reads the alert from standard input", async () => {
    const file = join(FIXTURES, "alertmanager/redis-out-of-configured-maxmemory.json");
    const fromFile = await run(["--alert", file, "--json"]);
    const fromStdin = await run(["--alert", "-", "--json"], readFileSync(file, "utf8"));
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.out).toBe(fromFile.out);
    expect((await run(["--alert", "-"], "{ nope")).err).toContain("standard input: not valid JSON");
    // One line, whatever the input: `echo 'not json' | belay match --alert -` printed Node's message with the input's newline in it.
    const bad = await run(["--alert", "-"], "not json\n");
    expect(bad.code).toBe(1);
    expect(bad.err.trimEnd()).not.toContain("\n");
  });

  it("names the closest failure modes when no playbook fits", async () => {
    const r = await run(["disk", "almost", "full", "on", "node"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("no playbook fits");
    expect(r.out).toMatch(/closest failure modes .*\n\s+disk-filling\s/);
    const j = JSON.parse((await run(["disk", "almost", "full", "on", "node", "--json"])).out).alerts[0];
    expect(j.candidates).toEqual([]);
    expect(j.closest[0]).toMatchObject({ failureMode: "disk-filling", score: 0 });
  });

  it("exits 2 on usage errors and 1 on a bad file, with the message on err", async () => {
    expect((await run([])).code).toBe(2);
    expect((await run(["--alert"])).code).toBe(2);
    expect((await run(["--alert", "x.json", "--yaml"])).code).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), "belay-match-"));
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ not json");
    const r1 = await run(["--alert", broken]);
    expect(r1).toMatchObject({ code: 1, out: "" });
    expect(r1.err).toContain("not valid JSON");
    const missing = await run(["--alert", join(dir, "missing.json")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("missing.json");
    const wrong = join(dir, "wrong.json");
    writeFileSync(wrong, JSON.stringify({ version: "4", groupKey: "{}", status: "firing", receiver: "r", alerts: [{ status: "firing" }] }));
    const r2 = await run(["--alert", wrong]);
    expect(r2.code).toBe(1);
    expect(r2.err).toContain("$.alerts[0].labels");
  });
});
