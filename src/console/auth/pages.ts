import { escapeHtml } from "../views/html.ts";
/** The Content-Security-Policy of these pages: nothing but the console's stylesheet (the console's own headers may tighten it). */
export const SIGN_IN_PAGE_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The few pages sign-in itself answers with (errors): plain, redacted and escaped like every page, no script. */
export function signInErrorPage(title: string, detail: string, retryHref: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · belay</title>
<link rel="stylesheet" href="/console/assets/console.css">
</head><body><main id="main" class="signin-error">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(detail)}</p>
<p><a href="${escapeHtml(retryHref)}">Sign in again</a> · <a href="/console/">Back to the console</a></p>
</main></body></html>`;
}
