import { randomBytes } from "node:crypto";
import type { Queryable } from "../store/driver.ts";
import { findLiveToken, getToken, insertToken, type ActionTokenRow } from "./store.ts";

/** What a button does. The token names one of these and what it is bound to. */
export type ButtonAction = "approve" | "skip" | "retry" | "abort" | "pagerduty.acknowledge";

export interface TokenBinding {
  action: ButtonAction;
  runId?: string | null;
  stepIdx?: number | null;
  planHash?: string | null;
  incidentId?: string | null;
  /** Anything else that makes this button a different button (a step's attempt count). */
  extra?: string;
}

/** The string a binding is found by: the same button on a re-rendered message gets the same token. */
export function subjectOf(b: TokenBinding): string {
  return [b.runId ?? "", b.stepIdx ?? "", b.planHash ?? "", b.incidentId ?? "", b.extra ?? ""].join("|");
}

/**
 * Opaque button values. A value is 128 random bits; what it acts on lives in the store, so
 * a client can neither forge a binding nor point a button at another run or step.
 */
export class ActionTokens {
  constructor(
    private readonly deps: { db: Queryable; clock: () => Date; ttlMs: number },
  ) {}

  async issue(b: TokenBinding): Promise<string> {
    const subject = subjectOf(b);
    const live = await findLiveToken(this.deps.db, b.action, subject);
    if (live) return live.token;
    const token = `bt_${randomBytes(16).toString("base64url")}`;
    await insertToken(this.deps.db, {
      token,
      action: b.action,
      subject,
      runId: b.runId ?? null,
      stepIdx: b.stepIdx ?? null,
      planHash: b.planHash ?? null,
      incidentId: b.incidentId ?? null,
    }, this.deps.ttlMs);
    return token;
  }

  /** The binding behind a value, or why there is none. Never trusts anything but the store. */
  async resolve(
    value: unknown,
  ): Promise<{ ok: true; token: ActionTokenRow } | { ok: false; code: "forged"; token: null } | { ok: false; code: "expired"; token: ActionTokenRow }> {
    if (typeof value !== "string" || !/^bt_[A-Za-z0-9_-]{22}$/.test(value)) return { ok: false, code: "forged", token: null };
    const row = await getToken(this.deps.db, value);
    if (!row) return { ok: false, code: "forged", token: null };
    if (row.expired) return { ok: false, code: "expired", token: row }; // on the database's clock
    return { ok: true, token: row };
  }
}
