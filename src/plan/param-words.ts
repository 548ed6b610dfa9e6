import type { z } from "zod";

/** A param's type in the words a person uses: text, a number, a whole number, yes or no, a list. */
export function typeWords(type: string, options?: readonly string[]): string {
  if (options?.length) return `one of ${options.join(", ")}`;
  return (
    { string: "text", number: "number", int: "whole number", boolean: "yes or no", array: "list, comma separated", object: "JSON object", record: "JSON object", enum: "one of a fixed set", literal: "a fixed value" }[type] ??
    type
  );
}

const withArticle = (kind: string) => (/^(number|whole number|list|JSON object|fixed value)/.test(kind) ? `a ${kind}` : kind);

const show = (v: unknown) => (typeof v === "string" ? `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"` : typeof v === "object" ? JSON.stringify(v)?.slice(0, 40) : String(v));

/**
 * One schema issue about a param as a sentence that names it: "namespace is required (text)",
 * "samples must be at most 64 (got 500)". Never the schema library's wording ("Too big:
 * expected number to be <=64"), except a playbook's own refine() message, which is the
 * author's words already.
 */
export function paramIssueWords(field: string, issue: z.core.$ZodIssue, input: unknown, type: { type: string; options?: readonly string[]; secret?: boolean } | undefined): string {
  const kind = type ? typeWords(type.type, type.options) : "a value";
  // A secret param's value is never quoted back: no sink could tell it from other text.
  const got = input === undefined || type?.secret ? "" : ` (got ${show(input)})`;
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined || input === null || input === "") return `${field} is required (${kind})`;
      return `${field} must be ${issue.expected === "int" ? "a whole number" : withArticle(kind)}${got}`;
    case "too_big": {
      const i = issue as z.core.$ZodIssueTooBig;
      const bound = String(i.maximum);
      if (i.origin === "string") return `${field} must be at most ${bound} characters${got}`;
      if (i.origin === "array" || i.origin === "set") return `${field} takes at most ${bound} items`;
      return `${field} must be ${i.inclusive === false ? "less than" : "at most"} ${bound}${got}`;
    }
    case "too_small": {
      const i = issue as z.core.$ZodIssueTooSmall;
      const bound = String(i.minimum);
      if (i.origin === "string") return Number(i.minimum) <= 1 ? `${field} is required (${kind})` : `${field} must be at least ${bound} characters${got}`;
      if (i.origin === "array" || i.origin === "set") return `${field} needs at least ${bound} item${bound === "1" ? "" : "s"}`;
      return `${field} must be ${i.inclusive === false ? "more than" : "at least"} ${bound}${got}`;
    }
    case "invalid_value": {
      const i = issue as z.core.$ZodIssueInvalidValue;
      return `${field} must be one of ${i.values.map((v) => String(v)).join(", ")}${got}`;
    }
    case "invalid_format": {
      const i = issue as z.core.$ZodIssueInvalidStringFormat;
      if (i.format === "regex") return `${field} does not have the expected form${i.pattern ? ` (${i.pattern})` : ""}${got}`;
      return `${field} must be a valid ${i.format}${got}`;
    }
    case "not_multiple_of":
      return `${field} must be a multiple of ${String((issue as z.core.$ZodIssueNotMultipleOf).divisor)}${got}`;
    case "unrecognized_keys":
      return `${field} has unknown keys: ${(issue as z.core.$ZodIssueUnrecognizedKeys).keys.join(", ")}`;
    case "custom":
      // A playbook's refine() message is its author's words.
      return `${field}: ${issue.message}`;
    default:
      return `${field} is not valid (${kind})${got}`;
  }
}
