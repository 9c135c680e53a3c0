// Opens a Light page in headless Chromium (Debian's /usr/bin/chromium), follows its first
// link to a Light image as a reader's tap would, goes back, types QUERY into the shell's
// search form and submits it as a reader would, and reports what the browser did: every
// request the documents made, the image response's status and type, the size the browser
// shows the image at, and the page the search landed on (its URL, status, whether it is a
// Light listing, and its headlines). Prints one JSON object
// ({requests, page_status, image_status, image_type, shown: [w, h], search: {url, status,
// listing, headlines}, violations}) and exits 2 when the check itself could not run.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = 15000;
const url = process.argv[2];
const query = process.argv[3];
if (!url || !query) {
  console.error("usage: node open_image.mjs LIGHT_PAGE_URL QUERY");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "lightmirror-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await context.newPage();
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));
  const violations = [];
  await page.exposeBinding("__lightmirrorViolation", (_source, directive, blocked) =>
    violations.push(`${directive} blocked ${blocked || "(inline)"}`),
  );
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__lightmirrorViolation(e.effectiveDirective, e.blockedURI),
    );
  });
  const pageResponse = await page.goto(url, { waitUntil: "load", timeout: TIMEOUT_MS });
  const link = page.locator('a[href^="/_light/img/"]').first();
  const [imageResponse] = await Promise.all([
    page.waitForResponse((r) => r.url().includes("/_light/img/"), { timeout: TIMEOUT_MS }),
    link.click({ timeout: TIMEOUT_MS }),
  ]);
  await page.waitForLoadState("load", { timeout: TIMEOUT_MS });
  // The image document Chromium builds around an image response shows it in one <img>.
  const shown = await page
    .locator("img")
    .first()
    .evaluate((img) => [img.naturalWidth, img.naturalHeight], null, { timeout: TIMEOUT_MS });
  await page.goBack({ waitUntil: "load", timeout: TIMEOUT_MS });
  const field = page.locator('header form[role="search"] input[type="search"]');
  await field.fill(query, { timeout: TIMEOUT_MS });
  const [searchResponse] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load", timeout: TIMEOUT_MS }),
    field.press("Enter", { timeout: TIMEOUT_MS }),
  ]);
  const search = await page.evaluate(() => ({
    url: location.href,
    listing: document.querySelector('link[rel="alternate"][type="application/atom+xml"]') !== null,
    headlines: [...document.querySelectorAll("main li a")].map((a) => a.textContent.trim()),
  }));
  search.status = searchResponse?.status();
  console.log(JSON.stringify({
    requests,
    page_status: pageResponse?.status(),
    image_status: imageResponse.status(),
    image_type: imageResponse.headers()["content-type"],
    shown,
    search,
    violations,
  }));
} catch (error) {
  console.error(`browser check could not run: ${error.stack ?? error}`);
  process.exitCode = 2;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
