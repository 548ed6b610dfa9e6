import { describe, expect, it } from "vitest";
import { h, trusted } from "../../src/console/views/html.ts";
import { diffBlock, externalHref } from "../../src/console/views/parts.ts";
import { LiveHub } from "../../src/console/live.ts";
import type { AuditEvent } from "../../src/audit/events.ts";

describe("console rendering", () => {
  it("escapes every value, in text and in attributes, and keeps only markup h made", () => {
    const evil = `"><script>alert('x')</script>\``;
    const out = h`<p title="${evil}">${evil}</p>${h`<b>${"ok"}</b>`}`.text;
    expect(out).not.toContain("<script>");
    expect(out).toBe(`<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#96;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#96;</p><b>ok</b>`);
    expect(h`${trusted("<svg></svg>")}`.text).toBe("<svg></svg>");
    expect(h`${null}${undefined}${false}${[1, "<", h`<i></i>`]}`.text).toBe("1&lt;<i></i>");
  });

  it("redacts secrets on the way out, like every other sink", () => {
    const out = h`<pre>${"dsn postgres://app:hunter2@db:5432/app and Authorization: Bearer abcdefghijklmnop1234"}</pre>`.text;
    expect(out).not.toContain("hunter2");
    expect(out).not.toContain("abcdefghijklmnop1234");
  });

  it("shows a diff as a diff: added and removed lines marked, escaped", () => {
    const out = diffBlock("restart api\n- replicas: 2\n+ replicas: <3>").text;
    expect(out).toContain('<pre class="preview diff">');
    expect(out).toContain('<del><span class="sr">removed: </span>- replicas: 2</del>');
    expect(out).toContain('<ins><span class="sr">added: </span>+ replicas: &lt;3&gt;</ins>');
    expect(diffBlock("policy a -> b").text).toBe('<pre class="preview">policy a -&gt; b</pre>');
  });

  it("links out only to http(s)", () => {
    expect(externalHref("https://team.slack.com/archives/C1/p1")).toBe("https://team.slack.com/archives/C1/p1");
    expect(externalHref("javascript:alert(1)")).toBeNull();
    expect(externalHref("not a url")).toBeNull();
    expect(externalHref(null)).toBeNull();
  });

  it("live messages carry kind and ids only, never data; odd ids are dropped", async () => {
    const hub = new LiveHub();
    const sent: string[] = [];
    (hub as unknown as { clients: Set<unknown> }).clients.add({ stream: { writeSSE: async (m: { data: string }) => void sent.push(m.data) }, done: () => {} });
    const e = (over: Partial<AuditEvent>): AuditEvent => ({ seq: 1, id: "e", at: "", kind: "step.approved", actor: "bob", surface: "console", runId: "run_1", incidentId: null, step: "restart", data: { token: "xoxb-secret" }, prevHash: "", hash: "", ...over });
    hub.publish([e({}), e({}), e({ runId: "run 1\ndata: x", kind: "Weird Kind" })]);
    expect(sent.map((s) => JSON.parse(s))).toEqual([
      { kind: "step.approved", run: "run_1", incident: null },
      { kind: "event.other", run: null, incident: null },
    ]);
  });
});
