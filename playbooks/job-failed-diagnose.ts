import { playbook, target, z } from "../src/sdk/index.ts";

/** A Job failed: show its pods, how each ended, their logs and events. Re-running it is a human decision (it may not be idempotent). */
export default playbook({
  id: "job-failed-diagnose",
  title: "Job failed: show why",
  summary: "Lists the Job's pods with their exit codes and termination reasons, the last log lines of the failed ones and their events.",
  failureModes: ["job-failed"],
  symptoms: ["KubeJobFailed firing", "A CronJob's last run did not complete", "BackoffLimitExceeded on the Job"],
  match: [
    { alertname: /^(KubeJobFailed|KubeJobNotCompleted|KubeCronJobFailed)$/ },
    { text: /job .*failed|BackoffLimitExceeded|DeadlineExceeded/i, weight: 0.8 },
  ],
  params: z.object({
    kube: target("kube"),
    namespace: z.string().min(1),
    job: z.string().min(1),
  }),
  fromAlert: (a) => ({
    namespace: a.labels.namespace,
    job: a.labels.job_name ?? a.labels.job,
  }),
})
  .diagnose("pods", {
    description: "The Job's pods (label job-name) and how each ended.",
    permissions: ["core/pods:list"],
    manual: ["kubectl -n {namespace} get pods -l job-name={job}", "kubectl -n {namespace} describe job {job}"],
    run: ({ params, targets }) => targets.kube(params.kube).listPods(params.namespace, `job-name=${params.job}`),
  })
  .diagnose("logs", {
    description: "The last lines of up to three failed pods.",
    permissions: ["core/pods/log:get"],
    manual: ["kubectl -n {namespace} logs job/{job} --tail=100"],
    run: async ({ params, outputs, targets }) => {
      const failed = outputs.pods.filter((p) => p.phase === "Failed" || p.restarts > 0).slice(0, 3);
      const out: { pod: string; logs: string }[] = [];
      for (const p of failed) {
        try {
          out.push({ pod: p.name, logs: await targets.kube(params.kube).logs(params.namespace, p.name, { tailLines: 100 }) });
        } catch (err) {
          out.push({ pod: p.name, logs: `(no logs: ${(err as Error).message.slice(0, 200)})` });
        }
      }
      return out;
    },
  })
  .diagnose("events", {
    description: "Events of the Job itself: BackoffLimitExceeded, DeadlineExceeded.",
    permissions: ["core/events:list"],
    manual: ["kubectl -n {namespace} get events --field-selector involvedObject.name={job}"],
    run: ({ params, targets }) => targets.kube(params.kube).events(params.namespace, params.job, "Job"),
  })
  .notify("findings", {
    message: ({ params, outputs }) => {
      const ends = outputs.pods.flatMap((p) => p.containers.map((c) => c.lastTermination?.reason ?? c.reason).filter(Boolean));
      return `Job ${params.namespace}/${params.job}: ${outputs.pods.length} pods, endings: ${[...new Set(ends)].join(", ") || "unknown"}. Re-run only if the job is idempotent: kubectl -n ${params.namespace} create job ${params.job}-rerun --from=cronjob/<cronjob>.`;
    },
  });
