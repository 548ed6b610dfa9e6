import { readFileSync } from "node:fs";
import type { HttpBindings } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Core } from "../core.ts";
import { describeError } from "../errors.ts";
import { incidentChart } from "../incidents/chart.ts";
import { postmortemMarkdown } from "../postmortem/markdown.ts";
import { redactText } from "../sinks.ts";
import type { Targets } from "../targets/types.ts";
import { decideFromConsole, decisionFromForm } from "./actions.ts";
import type { ConsoleAuth, ConsoleSession } from "./auth/types.ts";
import type { LiveHub } from "./live.ts";
import { chainChecker, hasPrometheus, readDrills, readIncident, readIndex, readPostmortem, readRun } from "./read.ts";
import { FORWARDING_HEADERS, isLoopback, isLoopbackHostHeader, securityHeaders } from "./security.ts";
import { drillChartSvg, drillsBody } from "./views/drills.ts";
import { h, type Html } from "./views/html.ts";
import { homeBody } from "./views/home.ts";
import { incidentBody } from "./views/incident.ts";
import { errorPage, page, type LiveSpec, type Viewer } from "./views/layout.ts";
import { postmortemBody } from "./views/postmortem.ts";
import { runSection, type RunRenderOptions } from "./views/run.ts";

/** What the console needs of Core: the store, the engine, the config; of the targets only Prometheus (for charts). */
export type ConsoleCore = Pick<Core, "db" | "engine" | "drills" | "config" | "logger"> & { targets: Pick<Targets, "prometheus"> };

export interface ConsoleDeps {
  core: ConsoleCore;
  auth: ConsoleAuth;
  live: LiveHub;
  clock: () => Date;
  /** How long a page or a decision may wait on the store before the answer is a 503 page (default 10 s). */
  requestTimeoutMs?: number;
}

/** A request the store did not answer in time (answered with a 503 page by onError). */
class TooSlow extends Error {
  constructor(readonly ms: number, readonly stateChange: boolean) {
    super(`the store did not answer within ${ms} ms`);
  }
}

type Env = { Bindings: Partial<HttpBindings>; Variables: { session: ConsoleSession | undefined; form: Record<string, string> } };

const ASSETS = {
  "console.css": { type: "text/css; charset=utf-8", body: readFileSync(new URL("./assets/console.css", import.meta.url), "utf8") },
  "console.js": { type: "text/javascript; charset=utf-8", body: readFileSync(new URL("./assets/console.js", import.meta.url), "utf8") },
} as const;

const NOT_LOOPBACK =
  "The console without sign-in answers only loopback addresses (127.0.0.1, ::1); open it on the machine belay runs on, or configure OIDC (BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET, BELAY_PUBLIC_URL).\n";
const NOT_LOOPBACK_HOST =
  "The console without sign-in answers only requests addressed to localhost, 127.0.0.1 or [::1] (this one named another host, as a page whose name points at 127.0.0.1 does); open http://localhost:<port>/console/, or configure OIDC.\n";
const FORWARDED =
  "The console without sign-in does not answer through a proxy (this request carries forwarding headers, so it came from another machine); open it on the machine belay runs on, or configure OIDC (BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET, BELAY_PUBLIC_URL).\n";
const READ_ONLY =
  "The console is read-only: sign-in is not configured (BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET, BELAY_PUBLIC_URL), so nothing can be changed here; decide in Slack or with `belay decide`.\n";

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};
const isSafeMethod = (m: string) => m === "GET" || m === "HEAD";
/** Paths that carry no incident data and must work before sign-in. */
const isPublic = (path: string) => path.startsWith("/console/auth/") || path.startsWith("/console/assets/");

/**
 * The console's routes. Transport and rendering only: what it shows is read through the
 * stores (read.ts), what it decides goes through the engine's decide path (actions.ts), and
 * who is signed in is the ConsoleAuth's business.
 */
export function createConsoleApp(deps: ConsoleDeps): Hono<Env> {
  const { core, auth, live, clock } = deps;
  const app = new Hono<Env>();
  const chain = chainChecker(core.db, clock);

  app.use("*", securityHeaders());

  // A store that hangs must not hang the page: after requestTimeoutMs the answer is a 503 page (the event stream is exempt: it is meant to stay open).
  const limit = deps.requestTimeoutMs ?? 10_000;
  app.use("*", async (c, next) => {
    if (c.req.path === "/console/events") return next();
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TooSlow(limit, !isSafeMethod(c.req.method))), limit);
    });
    try {
      await Promise.race([next(), slow]);
    } finally {
      clearTimeout(timer);
    }
  });

  // BELAY_PUBLIC_URL on another host: people reach belay through that name, so a loopback socket may be the proxy.
  const publicOrigin = core.config.console.publicOrigin;
  const publicElsewhere = publicOrigin !== null && !isLoopbackHostHeader(new URL(publicOrigin).host);
  const behindPublicName = `The console without sign-in answers no one here: BELAY_PUBLIC_URL is ${publicOrigin}, so people reach belay through that name and a loopback peer may be the proxy in front of it; configure OIDC (BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET) to use the console there.\n`;

  // Who may: without OIDC, loopback peers only (by the socket, never a header), and nothing changes state.
  app.use("*", async (c, next) => {
    if (!auth.enabled) {
      if (publicElsewhere) return c.text(behindPublicName, 403);
      if (!isLoopback(c.env?.incoming?.socket?.remoteAddress)) return c.text(NOT_LOOPBACK, 403);
      // A loopback socket may still be a rebound web page or a proxy on this host: Host and forwarding headers say so.
      if (!isLoopbackHostHeader(c.req.header("host") ?? new URL(c.req.url).host)) return c.text(NOT_LOOPBACK_HOST, 403);
      if (FORWARDING_HEADERS.some((name) => c.req.header(name) !== undefined)) return c.text(FORWARDED, 403);
      if (!isSafeMethod(c.req.method)) return c.text(READ_ONLY, 403);
      c.set("session", undefined);
      return next();
    }
    if (isPublic(c.req.path)) return next();
    const session = await auth.session(c);
    c.set("session", session);
    if (!session) {
      if (!isSafeMethod(c.req.method)) return c.text("Sign in first: this request changes state and carries no session.\n", 401);
      if (c.req.path === "/console/events" || c.req.query("fragment") !== undefined) return c.text("Sign in first: the session has ended.\n", 401);
      const url = new URL(c.req.url);
      return c.redirect(auth.loginUrl(`${url.pathname}${url.search}`), 302);
    }
    // Signing in at the provider is not enough (with a public provider, anyone has an account):
    // only people in the identity map see incidents, plans and postmortems. Sign-out stays open (/console/auth/).
    if (!session.principal) {
      return c.text(
        `not mapped: add oidc: ${session.subject ?? "<your subject>"} to your entry in people: in BELAY_CONFIG, then sign in again (you are signed in as ${session.displayName}; the console shows incidents only to people in the identity map).\n`,
        403,
      );
    }
    return next();
  });

  // Every state change: a session (above), a small form, and the CSRF and same-origin checks of the sign-in.
  app.use(
    "*",
    bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.text("The form is too large (16 KiB at most).\n", 413) }),
    async (c, next) => {
      if (isSafeMethod(c.req.method) || isPublic(c.req.path)) return next();
      const session = c.get("session")!;
      const body = await c.req.parseBody().catch(() => null);
      if (!body) return c.text("The request body is not a form; use the page's buttons.\n", 400);
      const form = Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => typeof e[1] === "string"));
      const refusal = auth.checkStateChange(c, session, form._csrf);
      if (refusal !== null) {
        core.logger.warn({ path: c.req.path, person: session.principal?.person ?? null, refusal }, "console: a state change was refused");
        return c.text(`Refused: ${refusal}. Reload the page and try again.\n`, 403);
      }
      c.set("form", form);
      return next();
    },
  );

  auth.mount(app as unknown as Hono);

  const viewer = (c: Context<Env>): Viewer => ({ session: c.get("session") ?? null, authEnabled: auth.enabled, loginUrl: auth.enabled ? auth.loginUrl(c.req.path) : null });
  const runOptions = (c: Context<Env>, now: Date): RunRenderOptions => {
    const s = c.get("session");
    return {
      policy: core.config.approval,
      now,
      // Pages render only without sign-in configured or for a mapped person (the guard above answers the unmapped).
      decider: s?.principal ? { csrf: s.csrf } : null,
      readOnlyReason: !auth.enabled ? "Read-only: sign-in is not configured here, so decisions are made in Slack or with `belay decide`." : "Sign in to approve, deny, skip, retry or abort.",
    };
  };
  /** A whole page, or with ?fragment only what the live region holds (what the script swaps in). */
  const render = (c: Context<Env>, o: { title: string; body: Html; live: LiveSpec | null; nav?: "incidents" | "drills"; status?: 200 | 400 | 404 | 409 }) => {
    const html = c.req.query("fragment") !== undefined ? o.body : page({ title: o.title, viewer: viewer(c), live: o.live, body: o.body, ...(o.nav ? { nav: o.nav } : {}) });
    return c.html(html.text, o.status ?? 200);
  };
  const notFound = (c: Context<Env>, what: string) => c.html(errorPage(viewer(c), "Not found", `${what}. It may have been typed wrong; the incidents page lists what belay knows.`).text, 404);

  app.get("/console", (c) => c.redirect("/console/", 301));

  app.get("/console/", async (c) => {
    const data = await readIndex(core);
    return render(c, { title: "Incidents", body: homeBody(data, clock()), live: { fragment: "/console/?fragment=1", all: true }, nav: "incidents" });
  });

  app.get("/console/incidents/:id/chart.png", async (c) => {
    // No Prometheus (or several, unnamed): nothing to ask, and no error to show.
    const chart = hasPrometheus(core) && (await incidentChart({ db: core.db, targets: core.targets, clock, logger: core.logger }, c.req.param("id")));
    if (!chart) return c.text("No chart: no Prometheus target, no alert expression, or no data for this incident.\n", 404);
    return c.body(new Uint8Array(chart.png), 200, { "content-type": "image/png" });
  });

  const incidentPage = async (c: Context<Env>, id: string, notice: Html | null, status: 200 | 400 | 409 = 200) => {
    const data = await readIncident(core, id, chain);
    if (!data) return notFound(c, `No incident ${id}`);
    const now = data.runs[0]?.view.dbNow ?? clock();
    const runs = data.runs.map((r) => r.view.run.id);
    const path = `/console/incidents/${encodeURIComponent(id)}`;
    return render(c, {
      title: data.incident.title,
      body: h`${notice}${incidentBody(data, { ...runOptions(c, now), back: path })}`,
      status,
      live: { fragment: `${path}?fragment=1`, incidents: [id], runs },
      nav: "incidents",
    });
  };

  app.get("/console/incidents/:id", (c) => incidentPage(c, c.req.param("id"), null));

  const runPage = async (c: Context<Env>, runId: string, notice: Html | null, status: 200 | 400 | 409 = 200) => {
    const data = await readRun(core, runId);
    if (!data) return notFound(c, `No run ${runId}`);
    const body = h`${notice}${runSection(data, { ...runOptions(c, data.view.dbNow ?? clock()), level: 1 })}`;
    return render(c, { title: data.view.playbook?.title ?? data.view.run.playbookId, body, status, live: { fragment: `/console/runs/${encodeURIComponent(runId)}?fragment=1`, runs: [runId] }, nav: "incidents" });
  };

  app.get("/console/runs/:id", (c) => runPage(c, c.req.param("id"), null));

  app.post("/console/runs/:id/decide", async (c) => {
    const runId = c.req.param("id");
    const session = c.get("session")!;
    // checkStateChange (above) refuses a session whose person is not in people:, so there is a principal here.
    // The answer is the page the form was on: the incident's (named in `back`), else the run's.
    const back = /^\/console\/incidents\/([^/?#]+)$/.exec(c.get("form").back ?? "");
    const answer = (notice: Html, status: 200 | 400 | 409 = 200) => (back ? incidentPage(c, safeDecode(back[1]!), notice, status) : runPage(c, runId, notice, status));
    const parsed = decisionFromForm(runId, session.principal!, c.get("form"));
    if ("invalid" in parsed) return answer(h`<p class="notice error" role="alert">Nothing was done: ${parsed.invalid}.</p>`, 400);
    let result;
    try {
      result = await decideFromConsole(core.engine, parsed.decision);
    } catch (err) {
      // The decision is one transaction: nothing was recorded.
      core.logger.error({ err, runId, action: parsed.decision.kind, person: session.principal!.person }, "a decision from the console could not be recorded");
      return answer(h`<p class="notice error" role="alert">Nothing was done: belay could not record the decision (${describeError(err)}). Try again in a moment.</p>`, 409);
    }
    if (result.accepted) return answer(h`<p class="notice ok" role="status">${result.message}.</p>`);
    const changed = result.code === "plan_changed" ? h` <strong>The plan changed since this page was loaded:</strong> review the plan below (hash <code>${"planHash" in parsed.decision ? parsed.decision.planHash.slice(0, 12) : ""}</code> was shown) and approve again if it is still right.` : null;
    return answer(h`<p class="notice error" role="alert">Refused: ${result.message}.${changed}</p>`, 409);
  });

  app.get("/console/drills", async (c) => render(c, { title: "Drills", body: drillsBody(await readDrills(core)), live: { fragment: "/console/drills?fragment=1", all: true }, nav: "drills" }));

  app.get("/console/drills/:id/chart.svg", async (c) => {
    const group = (await readDrills(core)).find((g) => g.drillId === c.req.param("id"));
    const svg = group ? drillChartSvg(group) : null;
    if (!svg) return c.text(`No chart: drill ${c.req.param("id")} has no report yet.\n`, 404);
    // Downloads leave through the sink like pages do (a drill's name or reason may quote a secret).
    return c.body(redactText(svg), 200, { "content-type": "image/svg+xml; charset=utf-8" });
  });

  app.get("/console/postmortems/:file", async (c) => {
    const file = c.req.param("file");
    const markdown = file.endsWith(".md");
    const id = markdown ? file.slice(0, -3) : file;
    const draft = await readPostmortem(core, id, clock);
    if (!draft) return notFound(c, `No incident ${id}, so no postmortem`);
    if (markdown) {
      return c.body(redactText(postmortemMarkdown(draft)), 200, {
        "content-type": "text/markdown; charset=utf-8",
        "content-disposition": `attachment; filename="postmortem-${id.replace(/[^A-Za-z0-9._-]/g, "_")}.md"`,
      });
    }
    return render(c, { title: `Postmortem: ${draft.incident.title}`, body: postmortemBody(draft), live: { fragment: `/console/postmortems/${encodeURIComponent(id)}?fragment=1`, incidents: [id] }, nav: "incidents" });
  });

  app.get("/console/events", (c) => {
    const s = c.get("session");
    return live.respond(c, s ? { until: s.expiresAt } : {});
  });

  app.get("/console/assets/:name", (c) => {
    const asset = ASSETS[c.req.param("name") as keyof typeof ASSETS];
    if (!asset) return c.text("No such asset.\n", 404);
    return c.body(asset.body, 200, { "content-type": asset.type });
  });

  app.notFound((c) => notFound(c, `Nothing at ${c.req.path}`));
  app.onError((err, c) => {
    if (err instanceof TooSlow) {
      core.logger.warn({ path: c.req.path, method: c.req.method, ms: err.ms }, "console: the store did not answer in time");
      const seconds = Math.round(err.ms / 100) / 10;
      const detail = err.stateChange
        ? `belay's store did not answer within ${seconds} s, so this page cannot say what happened: the decision may still be recorded. Reload the run's page in a moment to see whether it was before deciding again.`
        : `belay's store did not answer within ${seconds} s; reload in a moment, and if it keeps happening check the store (belay's /readyz and log).`;
      return c.html(errorPage(viewer(c), "belay is not answering in time", detail).text, 503);
    }
    core.logger.error({ err, path: c.req.path }, "console request failed");
    return c.html(errorPage(viewer(c), "Something went wrong", "belay could not answer this page; see belay's log, and reload in a moment.").text, 500);
  });
  return app;
}
