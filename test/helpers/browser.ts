import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium (.ci/run installs it); never a Playwright download. */
export const CHROMIUM = process.env.BELAY_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = join(process.cwd(), "test-artifacts", "console");

/** Headless Chromium as root on a shared machine: no sandbox, no GPU, no calls home; playwright gives it a fresh profile. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A fresh browser profile (its own cookies) that reaches only loopback: anything else (the test
 * provider's web font, say) is refused at once rather than waited for.
 */
export async function loopbackContext(browser: Browser, opts: { viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 900 } });
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/]|\[::1\])/, (route) => route.abort());
  return context;
}

/** A full-page screenshot in test-artifacts/console/NAME.png (look at it). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * On the test provider's login form (oidc-provider's development interactions): types the
 * login (any password works), then confirms the consent screen, and waits to be back on belay.
 */
export async function signInAtProvider(page: Page, login: string, belayOrigin: string, shotName?: string): Promise<void> {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any password");
  if (shotName) await screenshot(page, shotName);
  await page.click('button[type="submit"]');
  // First sign-in of this person to this client: the provider asks for consent.
  const consent = page.locator('button:has-text("Continue")');
  await Promise.race([consent.waitFor({ timeout: 15_000 }), page.waitForURL((u) => u.href.startsWith(belayOrigin), { timeout: 15_000 })]);
  if (!page.url().startsWith(belayOrigin)) await consent.click();
  await page.waitForURL((u) => u.href.startsWith(belayOrigin) && !u.pathname.startsWith("/console/auth/"), { timeout: 15_000 });
}
