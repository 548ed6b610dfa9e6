import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each use their own database or schema, so files can run in parallel;
    // two workers match the two cores of the machines this runs on.
    maxWorkers: 2,
    // A developer's own .env never leaks into a test (nor into the belay children tests spawn).
    env: { BELAY_ENV_FILE: "" },
  },
});
