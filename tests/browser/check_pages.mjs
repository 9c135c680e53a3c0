// Loads each URL given on the command line in headless Chromium (Debian's /usr/bin/chromium)
// and reports, per page, anything a Light page must never do: open a dialog, make any
// request besides the page itself, trip the Content-Security-Policy, log a console error,
// throw, navigate away or open a frame. It also reads the DOM the browser built and reports
// event-handler attributes, links to other schemes, and elements that run or load things.
// Prints one JSON object ({pages, failures: [{url, problem}]}) and exits 1 when any page
// failed, 2 when the check itself could not run.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PARALLEL = 4;
// A meta refresh of 0 s or a late event handler fires shortly after load; this wait gives
// them the chance to show themselves.
const SETTLE_MS = 150;
const LOAD_TIMEOUT_MS = 15000;
const ALLOWED_SCHEMES = ["http:", "https:", "mailto:"];

const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error("usage: node check_pages.mjs URL...");
  process.exit(2);
}

const failures = [];
const fail = (url, problem) => failures.push({ url, problem });

// One tab per worker, reused from page to page (a new tab per page costs more than the
// page itself); `current` is the URL the tab is checking, to which its events are charged.
async function openTab(context) {
  const page = await context.newPage();
  const tab = { page, current: null };
  const charge = (problem) => fail(tab.current ?? "(between pages)", problem);
  page.on("dialog", async (dialog) => {
    charge(`dialog ${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on("request", (request) => {
    if (request.url() !== tab.current) charge(`request ${request.method()} ${request.url()}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error") charge(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => charge(`page error: ${error.message}`));
  page.on("popup", (popup) => charge(`popup ${popup.url()}`));
  page.on("frameattached", (frame) => charge(`frame attached: ${frame.url()}`));
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame() && frame.url() !== tab.current) charge(`navigated to ${frame.url()}`);
  });
  await page.exposeBinding("__lightmirrorViolation", (_source, directive, blocked, sample) =>
    charge(`securitypolicyviolation: ${directive} blocked ${blocked || "(inline)"} ${sample}`),
  );
  // Init scripts are injected by the browser itself, outside the page's CSP.
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__lightmirrorViolation(e.effectiveDirective, e.blockedURI, e.sample),
    );
  });
  return tab;
}

// What the DOM Chromium built may not contain, whatever the network and CSP allowed.
function domProblems(allowed) {
  const problems = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (attr.name.toLowerCase().startsWith("on")) problems.push(`<${el.localName}> has ${attr.name}`);
    }
    if (el.namespaceURI !== "http://www.w3.org/1999/xhtml") problems.push(`foreign element <${el.localName}>`);
  }
  for (const a of document.querySelectorAll("[href]")) {
    if (a.href && !allowed.includes(new URL(a.href).protocol)) problems.push(`<${a.localName}> links to ${a.href}`);
  }
  const active = "script, iframe, frame, object, embed, base, form, input, button, img, video, audio, svg, math, template";
  for (const el of document.querySelectorAll(active)) problems.push(`<${el.localName}> in the DOM`);
  if (document.styleSheets.length !== 1) problems.push(`${document.styleSheets.length} style sheets`);
  return problems;
}

async function check(tab, url) {
  tab.current = url;
  const { page } = tab;
  try {
    const response = await page.goto(url, { waitUntil: "load", timeout: LOAD_TIMEOUT_MS });
    if (!response || response.status() !== 200) fail(url, `status ${response?.status()}`);
    await page.waitForTimeout(SETTLE_MS);
    if (page.url() === url) {
      for (const problem of await page.evaluate(domProblems, ALLOWED_SCHEMES)) fail(url, problem);
    }
  } catch (error) {
    fail(url, `load failed: ${error.message.split("\n")[0]}`);
  }
}

const profile = mkdtempSync(join(tmpdir(), "lightmirror-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const queue = [...urls];
  const workers = Array.from({ length: Math.min(PARALLEL, urls.length) }, async () => {
    const tab = await openTab(context);
    for (let url = queue.shift(); url !== undefined; url = queue.shift()) {
      await check(tab, url);
    }
  });
  await Promise.all(workers);
} catch (error) {
  console.error(`browser check could not run: ${error.stack ?? error}`);
  process.exitCode = 2;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
if (process.exitCode !== 2) {
  console.log(JSON.stringify({ pages: urls.length, failures }));
  process.exitCode = failures.length > 0 ? 1 : 0;
}
