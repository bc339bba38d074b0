// The console in headless Chromium: `node console.mjs BASE_URL DEPLOYMENT_ID SCREENSHOT_DIR`.
// Run by crates/server/tests/console.rs against a server it started, with the pipeline `app`
// waiting at its approval and DEPLOYMENT_ID holding 10 % of traffic. Exits non-zero on any
// failed expectation and on any console error or uncaught exception in a page.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, deployment, shots] = process.argv.slice(2);
if (!base || !deployment || !shots) {
  console.error("usage: node console.mjs BASE_URL DEPLOYMENT_ID SCREENSHOT_DIR");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "slipway-chromium-"));
const problems = [];
const step = (what) => console.log(`step: ${what}`);

function expect(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
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
  viewport: { width: 1280, height: 900 },
});

// Event-stream requests in flight across every tab, and the most seen at once.
const inflight = new Set();
let maxStreams = 0;
const isStream = (req) => req.url().includes("/console/events");
// The tabs that sent one: with a leader tab, only the leader does.
const streamTabs = new Set();
context.on("request", (req) => {
  if (isStream(req)) {
    inflight.add(req);
    maxStreams = Math.max(maxStreams, inflight.size);
    streamTabs.add(req.frame().page());
  }
});
const ended = (req) => inflight.delete(req);
context.on("requestfinished", ended);
context.on("requestfailed", ended);

async function open(path) {
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught on ${page.url()}: ${e.message}`));
  // A closed tab's held request may end without an event.
  page.on("close", () => {
    for (const r of [...inflight]) if (r.frame().page() === page) inflight.delete(r);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.request().method()} ${r.url()} answered ${r.status()}`);
  });
  const resp = await page.goto(base + path);
  expect(resp && resp.status() === 200, `${path} answers 200, got ${resp && resp.status()}`);
  // A marker that survives only as long as the page is not reloaded.
  await page.evaluate(() => { window.__notReloaded = true; });
  return page;
}

// Headless Chromium paints only the tab in front: bring it there first.
async function shot(page, name) {
  await page.bringToFront();
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function notReloaded(page) {
  expect(await page.evaluate(() => window.__notReloaded === true), "the page updated without a reload");
}

try {
  step("pipelines list");
  const list = await open("/console/pipelines");
  await list.getByRole("link", { name: "app" }).waitFor();
  await shot(list, "pipelines");
  // Each open console tab holds one event-stream connection, and Chromium allows six per host
  // over HTTP/1.1: close what is done with.
  await list.close();

  step("pipeline page: approve with a comment");
  const pipeline = await open("/console/pipelines/app");
  // A second tab only watches: what it shows can come only from the event stream.
  const watcher = await open("/console/pipelines/app");
  const approve = pipeline.getByRole("button", { name: /^Approve Approve \// });
  await approve.waitFor();
  await pipeline.getByLabel("Comment").fill("ship it from the browser");
  await approve.click();
  await pipeline.getByRole("status").filter({ hasText: "Approved." }).waitFor({ timeout: 10000 }).catch(async (e) => {
    throw new Error(`${e.message}; the status says: ${await pipeline.locator("#status").textContent()}`);
  });
  step("the execution goes on to prod and succeeds");
  const heading = (p) => p.locator("#exec-h .badge");
  await heading(watcher).filter({ hasText: "Succeeded" }).waitFor({ timeout: 60000 });
  await heading(pipeline).filter({ hasText: "Succeeded" }).waitFor({ timeout: 60000 });
  expect(
    (await pipeline.locator(".stage").nth(2).locator(".badge").first().textContent()) === "Succeeded",
    "the Prod stage succeeded",
  );
  await pipeline.getByText("Approved by console: “ship it from the browser”").waitFor();
  await notReloaded(pipeline);
  await notReloaded(watcher);
  await shot(pipeline, "pipeline");

  step("pipeline page at phone width");
  await pipeline.setViewportSize({ width: 390, height: 844 });
  const overflow = await pipeline.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow <= 1, `no sideways scrolling at 390px (overflow ${overflow}px)`);
  await shot(pipeline, "pipeline-phone");
  await pipeline.close();
  await watcher.close();

  step("deployment page in eight tabs (more than the six connections a browser allows): skip the wait in one, watch 100 % arrive in all");
  maxStreams = inflight.size;
  streamTabs.clear();
  const dep = await open(`/console/deployments/${deployment}`);
  const depWatcher = await open(`/console/deployments/${deployment}`);
  const more = [];
  for (let i = 0; i < 6; i++) more.push(await open(`/console/deployments/${deployment}`));
  const weight = (p) => p.locator("dd.weight");
  expect((await weight(dep).textContent()) === "10%", "10 % before");
  expect(await dep.locator("figure.chart svg").isVisible(), "the chart is drawn");
  await dep.getByRole("button", { name: "Skip the wait: shift all traffic now" }).click();
  await weight(depWatcher).filter({ hasText: "100%" }).waitFor({ timeout: 30000 });
  await weight(dep).filter({ hasText: "100%" }).waitFor();
  await depWatcher.getByText("Succeeded", { exact: true }).first().waitFor();
  for (const p of more) {
    await weight(p).filter({ hasText: "100%" }).waitFor({ timeout: 30000 });
    await notReloaded(p);
  }
  // One tab leads and holds the only event-stream request; a change of topics (each new tab)
  // aborts it and opens the next. Playwright reports an aborted request's end later than the
  // next request's start, so the count in flight it sees can exceed what the browser holds on
  // a loaded machine: the property checked is that one tab alone asks, and the count is shown.
  expect(streamTabs.size === 1, `one tab of eight sends the event-stream requests (saw ${streamTabs.size}; at most ${maxStreams} in flight as Playwright reports them)`);
  expect(maxStreams < 6, `fewer event-stream requests in flight than the browser's six connections (saw ${maxStreams})`);
  for (const p of more) await p.close();
  await notReloaded(dep);
  await notReloaded(depWatcher);
  await shot(dep, "deployment");
  await dep.close();
  await depWatcher.close();

  step("stack and function pages");
  const stack = await open("/console/stacks/123456789012/us-east-1/app");
  await stack.getByRole("heading", { name: "Outputs" }).waitFor();
  // The output's value is text, not a script that ran.
  await stack.getByText("<script>alert('x')</script>").waitFor();
  await shot(stack, "stack");
  await stack.close();
  const fn = await open("/console/functions/123456789012/us-east-1/hello");
  await fn.getByText("hello from <v>").first().waitFor();
  step("function page: the log tail shows a new invocation's lines without a reload");
  const invoked = await fetch(`${base}/2015-03-31/functions/hello/invocations`, {
    method: "POST",
    body: JSON.stringify({ tail: "<new line>" }),
  });
  expect(invoked.status === 200, `the invoke answered 200, got ${invoked.status}`);
  await fn.locator("#tail").getByText('{"tail": "<new line>"}').waitFor({ timeout: 30000 });
  await fn.getByRole("heading", { name: "The last hour, by minute" }).waitFor();
  expect(await fn.locator("figure.chart.small svg").first().isVisible(), "the per-minute charts are drawn");
  await notReloaded(fn);
  await shot(fn, "function");
  await fn.close();
  for (const p of ["/console/deployments", "/console/stacks", "/console/functions"]) {
    const page = await open(p);
    await page.close();
  }
} catch (e) {
  problems.push(String(e && e.stack ? e.stack : e));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const p of problems) console.log(`problem: ${p}`);
  process.exit(1);
}
console.log("ok: every page behaved");
