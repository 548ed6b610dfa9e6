import { playbook, target, z } from "../src/sdk/index.ts";

/** Expands `residence_ids:{user_id}` with the user's id. Only `{user_id}` / `{userId}` are placeholders. */
function keysFor(templates: readonly string[], userId: string): string[] {
  return [...new Set(templates.map((t) => t.replace(/\{user_?id\}/gi, userId)))];
}

/**
 * A change forgot to invalidate a user's cached entries, so stale data is served. Delete
 * exactly that user's keys (named by templates, never a wildcard); the next read rebuilds them.
 */
export default playbook({
  id: "stale-cache-flush-user",
  title: "Stale cache for one user: delete their cached keys",
  summary: "Expands the key templates (such as residence_ids:{user_id}) for one user, shows which of those exact keys exist, and deletes exactly them.",
  failureModes: ["stale-cache"],
  symptoms: [
    "A user sees old data after a change (address, permissions, listing) that the database already has",
    "Support ticket: 'I updated it but it still shows the old value'",
  ],
  match: [
    { text: /stale (cache|data)|cache (not )?invalidat|old (data|value) (still )?(shown|served)/i },
  ],
  params: z.object({
    redis: target("redis"),
    userId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a user id: letters, digits, _ or -"),
    keyTemplates: z.array(z.string().includes("{")).min(1).default(["residence_ids:{user_id}"]),
  }),
  fromAlert: (a) => ({
    ...(a.labels.user_id ? { userId: a.labels.user_id } : {}),
  }),
})
  .diagnose("keys", {
    description: "The exact keys for this user, and which of them exist.",
    manual: ["redis-cli EXISTS residence_ids:{userId}"],
    run: async ({ params, targets }) => {
      const candidates = keysFor(params.keyTemplates, params.userId);
      return { candidates, existing: await targets.redis(params.redis).findKeys({ keys: candidates }) };
    },
  })
  .act("delete-keys", {
    description: "DEL of exactly the keys listed; the next read repopulates them from the source of truth.",
    risk: "low",
    permissions: ["redis:DEL"],
    when: { if: ({ outputs }) => outputs.keys.existing.length > 0, reason: ({ params }) => `none of user ${params.userId}'s keys exists: nothing to delete` },
    locks: ({ params }) => [`redis:${params.redis}/user/${params.userId}`],
    manual: ["redis-cli DEL residence_ids:{userId}"],
    preview: async ({ params, outputs, targets }) => {
      const c = await targets.redis(params.redis).deleteKeys({ keys: outputs.keys.candidates }, { dryRun: true });
      return { summary: c.summary, diff: c.diff, data: { keys: c.keys } };
    },
    run: ({ params, targets, previewData }) => targets.redis(params.redis).deleteKeys({ keys: (previewData as { keys: string[] }).keys }),
    verify: async ({ params, targets, result }) => {
      const left = await targets.redis(params.redis).findKeys({ keys: result.keys });
      return { ok: left.length === 0, detail: left.length ? `still there: ${left.join(", ")}` : `${result.deleted} keys deleted` };
    },
    irreversible: "deleted cache entries are rebuilt from the source of truth on the next read; restoring stale data would defeat the fix",
  })
  .notify("follow-up", {
    message: ({ params, outputs }) =>
      `Deleted ${outputs.keys.existing.length} cached keys of user ${params.userId}. Find the write path that forgot to invalidate ${params.keyTemplates.join(", ")}.`,
  });
