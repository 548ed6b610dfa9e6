import type { ConsoleSession } from "../auth/types.ts";
import { h, type Html, type Value } from "./html.ts";

/** Who is looking: a signed-in person, or (without OIDC) a read-only loopback visitor. */
export interface Viewer {
  session: ConsoleSession | null;
  authEnabled: boolean;
  /** Where "sign in" points (OIDC on, nobody signed in). */
  loginUrl: string | null;
}

/** What a page follows live: the fragment re-fetched on a matching event, and the ids that match. */
export interface LiveSpec {
  fragment: string;
  runs?: readonly string[];
  incidents?: readonly string[];
  /** Any event re-renders (the overview, the drills). */
  all?: boolean;
}

function whoBar(v: Viewer): Html {
  if (v.session) {
    return h`<span class="who">Signed in as <strong>${v.session.displayName}</strong> (${v.session.principal?.person ?? "not in people:, read-only"})</span>
<form method="post" action="/console/auth/logout" class="inline"><input type="hidden" name="_csrf" value="${v.session.csrf}"><button type="submit" class="link">Sign out</button></form>`;
  }
  if (v.authEnabled) return h`<a class="button" href="${v.loginUrl ?? "/console/auth/login"}">Sign in</a>`;
  return h`<span class="who readonly" title="Set BELAY_OIDC_ISSUER, BELAY_OIDC_CLIENT_ID, BELAY_OIDC_CLIENT_SECRET and BELAY_PUBLIC_URL to sign in and decide">Read-only: sign-in is not configured</span>`;
}

/** The page shell: one stylesheet, one deferred script, a skip link, the navigation and the live region. */
export function page(opts: { title: string; viewer: Viewer; live: LiveSpec | null; body: Html; nav?: "incidents" | "drills" }): Html {
  const live = opts.live;
  const current = (n: string) => (opts.nav === n ? h` aria-current="page"` : null);
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} · belay</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<nav aria-label="Console"><a class="brand" href="/console/">belay</a> <a href="/console/"${current("incidents")}>Incidents</a> <a href="/console/drills"${current("drills")}>Drills</a></nav>
<div class="session">${whoBar(opts.viewer)}</div>
</header>
<main id="main" tabindex="-1">
<p id="live-status" class="live-status" role="status" aria-live="polite"></p>
<div id="live"${live ? h` data-fragment="${live.fragment}" data-runs="${(live.runs ?? []).join(" ")}" data-incidents="${(live.incidents ?? []).join(" ")}" data-all="${live.all ? "1" : "0"}"` : null}>
${opts.body}
</div>
</main>
</body>
</html>
`;
}

export function errorPage(viewer: Viewer, title: string, message: Value): Html {
  return page({ title, viewer, live: null, body: h`<h1>${title}</h1><p class="notice error">${message}</p><p><a href="/console/">Back to the incidents</a></p>` });
}
