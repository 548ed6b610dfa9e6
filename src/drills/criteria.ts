import type { Drill, DrillProbe, ProbeStats } from "../sdk/drill.ts";
import type { Observation, RealAlert } from "./observe.ts";
import type { Criterion, Scores } from "./report.ts";

const secs = (from: Date | null, to: Date | null) => (from && to ? (to.getTime() - from.getTime()) / 1000 : null);

export interface Measured {
  injectedAt: Date | null;
  alertedAt: Date | null;
  recoveredAt: Date | null;
  recoveryDetail: string;
  probe: ProbeStats | null;
  probeSpec: DrillProbe | null;
  obs: Observation;
  /** Real detection: the team's monitoring, not a synthetic alert, had to notice the fault. */
  real?: { withinS: number; faultAt: Date | null; alert: RealAlert | null };
}

export function scoresOf(m: Measured): Scores {
  return {
    // Real detection: from the fault to belay receiving the team's own alert (measured, not assumed).
    detectS: m.real ? secs(m.real.faultAt ?? m.injectedAt, m.real.alert?.receivedAt ?? null) : secs(m.injectedAt, m.obs.incidentOpenedAt),
    acknowledgeS: secs(m.injectedAt, m.obs.ackAt),
    approveS: secs(m.injectedAt, m.obs.approvedAt),
    recoverS: secs(m.injectedAt, m.recoveredAt),
  };
}

/** Each success criterion with its measured value. Pure: from what was observed. */
export function judgeCriteria(drill: Drill, m: Measured): Criterion[] {
  const x = drill.meta.expect;
  const out: Criterion[] = [];
  const { obs } = m;
  if (m.real) {
    const a = m.real.alert;
    const s = secs(m.real.faultAt ?? m.injectedAt, a?.receivedAt ?? null);
    const fired = a?.startsAt ? secs(m.real.faultAt ?? m.injectedAt, a.startsAt) : null;
    out.push({
      name: "alert fired",
      expected: `a real alert within ${m.real.withinS} s of the injection`,
      measured: s,
      unit: "s",
      ok: s !== null && s <= m.real.withinS,
      detail: a
        ? `${a.alertname} received ${s?.toFixed(1)} s after the injection began${fired !== null ? ` (Alertmanager startsAt ${fired.toFixed(1)} s)` : ""}; incident ${a.incidentId ?? "none"}`
        : "monitoring did not detect the fault: no matching alert reached /webhooks/alertmanager",
    });
    // Nothing fired: what belay would have done was never tested.
    if (!a) return out;
  }
  if (x.playbook) {
    const s = secs(m.alertedAt, obs.run?.proposedAt ?? null);
    const right = obs.run?.playbookId === x.playbook;
    out.push({
      name: "right playbook proposed",
      expected: `${x.playbook} within ${x.proposedWithinS} s of the alert`,
      measured: s,
      unit: "s",
      ok: right && s !== null && s <= x.proposedWithinS,
      detail: obs.run ? `${obs.run.playbookId} proposed (run ${obs.run.id})` : obs.incidentId ? `incident ${obs.incidentId} opened; nothing proposed` : "no incident opened",
    });
  } else {
    const s = secs(m.alertedAt, obs.triagedAt);
    out.push({
      name: "triaged, no playbook claimed",
      expected: `triage within ${x.proposedWithinS} s, no playbook proposed`,
      measured: s,
      unit: "s",
      ok: s !== null && s <= x.proposedWithinS && obs.run === null,
      detail: obs.run ? `${obs.run.playbookId} was proposed, though none was expected to fit` : obs.triagedAt ? `failure mode ${obs.failureMode ?? "unknown"}; no playbook (a gap to fill)` : "not triaged",
    });
  }
  if (x.approvedWithinS !== undefined) {
    const s = secs(obs.run?.proposedAt ?? null, obs.approvedAt);
    out.push({
      name: "approved",
      expected: `within ${x.approvedWithinS} s of the proposal`,
      measured: s,
      unit: "s",
      ok: s !== null && s <= x.approvedWithinS,
      detail: obs.approvedAt ? `approved by ${obs.approvedBy.join(", ") || "?"}` : "never approved",
    });
  }
  if (x.recoveredWithinS !== undefined) {
    const s = secs(m.injectedAt, m.recoveredAt);
    out.push({
      name: "recovered",
      expected: `within ${x.recoveredWithinS} s of the injection`,
      measured: s,
      unit: "s",
      ok: s !== null && s <= x.recoveredWithinS,
      detail: m.recoveryDetail,
    });
  }
  const limits = m.probeSpec;
  if (m.probe && limits) {
    if (limits.maxErrorRate !== undefined) {
      out.push({ name: "probe error rate", expected: `<= ${limits.maxErrorRate}`, measured: m.probe.errorRate, unit: "ratio", ok: m.probe.requests > 0 && m.probe.errorRate <= limits.maxErrorRate, detail: `${m.probe.errors} of ${m.probe.requests} requests failed` });
    }
    if (limits.maxP95Ms !== undefined) {
      out.push({ name: "probe p95 latency", expected: `<= ${limits.maxP95Ms} ms`, measured: m.probe.p95Ms, unit: "ms", ok: m.probe.p95Ms !== null && m.probe.p95Ms <= limits.maxP95Ms, detail: `${m.probe.requests} requests to ${limits.url}` });
    }
  }
  return out;
}
