import pino from "pino";
import type { Logger } from "./execute/deps.ts";
import { redactLogValue } from "./sinks.ts";

/**
 * JSON logs on stderr (stdout is for command output). A log line is a sink: every argument
 * (objects, errors with their messages and stacks, the message string) is redacted on its way
 * in, so a DSN password or a token in an error never reaches the log. `destination` is for tests and for the CLI's prompt-aware writer.
 */
export function createLogger(level: string, destination: pino.DestinationStream | undefined = undefined): Logger {
  destination ??= pino.destination(2);
  return pino(
    {
      level,
      hooks: {
        logMethod(args, method) {
          return method.apply(this, args.map((a) => redactLogValue(a)) as Parameters<typeof method>);
        },
      },
      formatters: { bindings: (b) => redactLogValue(b) as Record<string, unknown> },
      redact: {
        paths: ["*.token", "*.password", "*.secret", "*.authorization", "headers.authorization", "*.headers.authorization"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
