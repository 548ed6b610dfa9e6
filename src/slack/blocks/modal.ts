import type { z } from "zod";
import { describeParams, paramShape, type ParamIssue } from "../../plan/bind.ts";
import type { AnyPlaybook } from "../../sdk/playbook.ts";
import { clip, esc } from "./text.ts";

export const RUN_MODAL_CALLBACK = "belay.run.params";

/** Where a proposal from the modal goes, carried in the view's private_metadata (set by belay, kept by Slack). */
export interface ModalMeta {
  playbook: string;
  channel: string;
  threadTs: string | null;
  /** The incident the run is for (`incident=` on the command), if any. */
  incident?: IncidentLink | null;
}

/** Which incident a run from Slack is for: by id (`incident=`), or by its thread root. */
export type IncidentLink = { id: string; thread?: never } | { thread: { channel: string; ts: string }; id?: never };

const blockId = (name: string) => `param:${name}`;

/** Whether a number param only takes whole numbers (`z.number().int()`), seen through optional/default. */
export function isIntegerParam(schema: z.ZodType, name: string): boolean {
  let cur: unknown = paramShape(schema)[name];
  for (let i = 0; i < 10 && cur; i++) {
    const s = cur as { isInt?: boolean; unwrap?: () => unknown; def?: { innerType?: unknown } };
    if (s.isInt === true) return true;
    cur = typeof s.unwrap === "function" ? s.unwrap() : s.def?.innerType;
  }
  return false;
}

function display(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.join(",");
  return JSON.stringify(v);
}

/**
 * A modal built from the playbook's zod schema: enums and booleans become selects, numbers
 * number inputs, the rest text inputs; defaults and what the user already typed are filled in.
 */
export function paramsModal(pb: AnyPlaybook, meta: ModalMeta, given: Readonly<Record<string, string>>, issues: readonly ParamIssue[]): Record<string, unknown> {
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: clip(`*${esc(pb.title)}*\n${esc(pb.summary)}`, 2900) } },
  ];
  if (issues.length > 0) {
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: clip(`:warning: ${issues.map((i) => `\`${esc(i.field)}\`: ${esc(i.message)}`).join("; ")}`, 2900) }] });
  }
  for (const p of describeParams(pb.params)) {
    const initial = given[p.name] ?? (p.secret ? undefined : display(p.default));
    let element: Record<string, unknown>;
    const options = p.type === "enum" ? (p.options ?? []) : p.type === "boolean" ? ["true", "false"] : null;
    if (options) {
      const opt = (o: string) => ({ text: { type: "plain_text", text: clip(o, 75) }, value: o });
      element = { type: "static_select", action_id: "value", options: options.map(opt), ...(initial && options.includes(initial) ? { initial_option: opt(initial) } : {}) };
    } else if (p.type === "number" || p.type === "int") {
      element = { type: "number_input", action_id: "value", is_decimal_allowed: !isIntegerParam(pb.params, p.name), ...(initial && !Number.isNaN(Number(initial)) ? { initial_value: initial } : {}) };
    } else {
      element = { type: "plain_text_input", action_id: "value", ...(initial ? { initial_value: initial } : {}), ...(p.type === "object" || p.type === "record" ? { multiline: true } : {}) };
    }
    const hint = [p.description, p.type === "array" ? "comma separated" : null, p.type === "object" || p.type === "record" ? "JSON" : null, p.secret ? "secret: used for this run, never stored" : null].filter(Boolean).join(" · ");
    blocks.push({
      type: "input",
      block_id: blockId(p.name),
      optional: !p.required,
      label: { type: "plain_text", text: clip(p.name, 2000) },
      element,
      ...(hint ? { hint: { type: "plain_text", text: clip(hint, 2000) } } : {}),
    });
  }
  return {
    type: "modal",
    callback_id: RUN_MODAL_CALLBACK,
    private_metadata: JSON.stringify(meta),
    title: { type: "plain_text", text: "Propose a run" },
    submit: { type: "plain_text", text: "Propose" },
    close: { type: "plain_text", text: "Cancel" },
    blocks,
  };
}

interface StateValue {
  type?: string;
  value?: string | null;
  selected_option?: { value: string } | null;
}

/** The submitted values as `key=value` strings (empty fields left out, so defaults apply). */
export function readModalValues(pb: AnyPlaybook, state: { values?: Record<string, Record<string, StateValue>> } | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of describeParams(pb.params)) {
    const v = state?.values?.[blockId(p.name)]?.value;
    const raw = v?.selected_option?.value ?? v?.value ?? null;
    if (raw !== null && raw !== undefined && raw !== "") out[p.name] = raw;
  }
  return out;
}

/** Validation issues as `response_action: "errors"`: each on its field, the rest on the first field. */
export function modalErrors(pb: AnyPlaybook, issues: readonly ParamIssue[]): Record<string, string> {
  const names = describeParams(pb.params).map((p) => p.name);
  const errors: Record<string, string> = {};
  for (const i of issues) {
    const field = i.field.split(".")[0]!;
    const target = names.includes(field) ? field : names[0];
    if (!target) continue;
    const id = blockId(target);
    const msg = target === field ? i.message : `${i.field}: ${i.message}`;
    errors[id] = clip(errors[id] ? `${errors[id]}; ${msg}` : msg, 150);
  }
  return errors;
}

export function parseModalMeta(text: string | undefined): ModalMeta | null {
  try {
    const m = JSON.parse(text ?? "") as Partial<ModalMeta>;
    if (typeof m.playbook === "string" && typeof m.channel === "string") {
      const i = m.incident as { id?: unknown; thread?: { channel?: unknown; ts?: unknown } } | null | undefined;
      const incident: IncidentLink | null =
        typeof i?.id === "string" ? { id: i.id } : typeof i?.thread?.channel === "string" && typeof i.thread.ts === "string" ? { thread: { channel: i.thread.channel, ts: i.thread.ts } } : null;
      return { playbook: m.playbook, channel: m.channel, threadTs: typeof m.threadTs === "string" ? m.threadTs : null, incident };
    }
  } catch {
    /* fall through */
  }
  return null;
}
