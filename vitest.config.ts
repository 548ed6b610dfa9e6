import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files each use their own database or schema, so files can run in parallel;
    // two workers match the two cores of the machines this runs on.
    maxWorkers: 2,
  },
});
