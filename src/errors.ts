/**
 * One small error hierarchy. Code branches on `code`, never on message text; `retryable`
 * says whether the caller (or the sender of a webhook) should try again.
 */
export type ErrorCode =
  | "config.invalid"
  | "store.locked"
  | "store.unavailable"
  | "migration.failed"
  | "playbook.not_found"
  | "playbook.invalid"
  | "params.invalid"
  | "run.not_found"
  | "run.state"
  | "step.not_found"
  | "step.timeout"
  | "approval.refused"
  | "lease.lost"
  | "input.invalid"
  | "target.read_only"
  | "identity.refused"
  | "target.unavailable"
  | "target.failed"
  /** A rehearsal asked for a real fault primitive. */
  | "drill.rehearsal"
  /** A drill's injection asked for a target not marked `drill: true`. */
  | "drill.target_refused";

export class BelayError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; details?: unknown; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "BelayError";
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }
}

export function isBelayError(err: unknown, code?: ErrorCode): err is BelayError {
  return err instanceof BelayError && (code === undefined || err.code === code);
}

/** A message for a human, whatever was thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
