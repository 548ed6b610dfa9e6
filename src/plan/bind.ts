import { z } from "zod";
import { BelayError } from "../errors.ts";
import type { AnyPlaybook } from "../sdk/playbook.ts";
import { isSecretSchema } from "../sdk/secret.ts";
import { paramIssueWords } from "./param-words.ts";

export interface ParamIssue {
  field: string;
  message: string;
}

/** zod 4 internals we read to coerce strings: the def's type and its inner schema. */
interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  in?: z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (let i = 0; i < 10; i++) {
    const d = defOf(cur);
    if (d.innerType && ["optional", "default", "nullable", "prefault", "readonly", "catch", "nonoptional"].includes(d.type)) cur = d.innerType;
    else if (d.type === "pipe" && d.in) cur = d.in;
    else break;
  }
  return cur;
}

/** The object shape of a playbook's params schema (empty if it is not an object). */
export function paramShape(schema: z.ZodType): Record<string, z.ZodType> {
  const d = defOf(unwrap(schema));
  return d.type === "object" && d.shape ? d.shape : {};
}

/** The names of params marked with `secret()`. */
export function secretParamNames(schema: z.ZodType): Set<string> {
  const names = new Set<string>();
  for (const [k, s] of Object.entries(paramShape(schema))) {
    let cur: z.ZodType | undefined = s;
    for (let i = 0; cur && i < 10; i++) {
      if (isSecretSchema(cur)) names.add(k);
      const d: Def = defOf(cur);
      cur = d.innerType ?? d.in;
    }
  }
  return names;
}

/**
 * Turns `key=value` strings (CLI, slash command) into the types the schema wants: numbers,
 * booleans, lists (comma separated), JSON objects. Anything else stays a string for zod to judge.
 */
export function coerceStrings(schema: z.ZodType, raw: Record<string, string>): Record<string, unknown> {
  const shape = paramShape(schema);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const field = shape[k];
    const type = field ? defOf(unwrap(field)).type : "unknown";
    if (type === "number" || type === "int") out[k] = v.trim() === "" || Number.isNaN(Number(v)) ? v : Number(v);
    else if (type === "boolean") out[k] = v === "true" || v === "yes" ? true : v === "false" || v === "no" ? false : v;
    else if (type === "array") out[k] = v === "" ? [] : v.split(",").map((x) => x.trim());
    else if (type === "object" || type === "record") {
      try {
        out[k] = JSON.parse(v);
      } catch {
        out[k] = v;
      }
    } else out[k] = v;
  }
  return out;
}

/**
 * Validates params with the playbook's schema. Every bad field is listed at once, with the
 * field name and what was wrong, so a human fixes them in one go.
 */
export function bindParams<P = Record<string, unknown>>(pb: AnyPlaybook, input: Record<string, unknown>): P {
  const shape = paramShape(pb.params);
  const unknownFields = Object.keys(input).filter((k) => Object.keys(shape).length > 0 && !(k in shape));
  const parsed = pb.params.safeParse(input);
  const issues: ParamIssue[] = unknownFields.map((k) => ({
    field: k,
    message: `unknown param; ${pb.id} takes ${Object.keys(shape).join(", ") || "no params"}`,
  }));
  if (!parsed.success) {
    const types = new Map(describeParams(pb.params).map((d) => [d.name, d]));
    for (const i of parsed.error.issues) {
      const field = i.path.join(".") || "(params)";
      const top = String(i.path[0] ?? "");
      issues.push({ field, message: paramIssueWords(field, i, top ? input[top] : input, types.get(top)) });
    }
  }
  if (issues.length > 0) {
    throw new BelayError(
      "params.invalid",
      `invalid params for ${pb.id}:\n${issues.map((i) => `  ${i.message.startsWith(i.field) ? i.message : `${i.field}: ${i.message}`}`).join("\n")}`,
      { details: issues },
    );
  }
  return parsed.data as P;
}

/** A readable description of each param for help texts, modals and runbooks. */
export function describeParams(schema: z.ZodType): { name: string; type: string; required: boolean; default?: unknown; options?: string[]; description?: string; secret: boolean }[] {
  const secrets = secretParamNames(schema);
  return Object.entries(paramShape(schema)).map(([name, s]) => {
    const inner = unwrap(s);
    const d = defOf(inner) as Def & { entries?: Record<string, string> };
    let def: unknown;
    let cur: z.ZodType | undefined = s;
    for (let i = 0; cur && i < 10; i++) {
      const cd = defOf(cur) as Def & { defaultValue?: unknown };
      if (cd.type === "default") {
        def = typeof cd.defaultValue === "function" ? (cd.defaultValue as () => unknown)() : cd.defaultValue;
        break;
      }
      cur = cd.innerType;
    }
    const optional = s.safeParse(undefined).success;
    return {
      name,
      type: d.type === "enum" ? "enum" : d.type,
      required: !optional,
      ...(def !== undefined ? { default: def } : {}),
      ...(d.type === "enum" && d.entries ? { options: Object.values(d.entries) } : {}),
      ...(s.description ?? inner.description ? { description: s.description ?? inner.description } : {}),
      secret: secrets.has(name),
    };
  });
}
