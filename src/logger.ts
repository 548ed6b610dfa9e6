import pino from "pino";
import type { Logger } from "./execute/deps.ts";

/** JSON logs on stderr (stdout is for command output); secrets redacted by path. */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ["*.token", "*.password", "*.secret", "*.authorization", "headers.authorization", "*.headers.authorization"],
        censor: "[redacted]",
      },
    },
    pino.destination(2),
  );
}
