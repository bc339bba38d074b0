// A canary rolled back by its alarm, watched in the page: `node canary.mjs BASE_URL
// DEPLOYMENT_ID SCREENSHOT_DIR`. Run by crates/server/tests/console.rs: once this prints
// `ready` (the deployment page is open at 10 %), the test makes the new version fail and moves
// the server's clock; the page must then show, without a reload, the alarm in ALARM with its
// datapoint over the threshold, the deployment Stopped and the traffic back on the old version.
// Exits non-zero on a failed expectation or any console error.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, deployment, shots] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "slipway-chromium-"));
const problems = [];
const expect = (ok, what) => { if (!ok) throw new Error(`expected: ${what}`); };
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
  viewport: { width: 1280, height: 1000 },
});
try {
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  const resp = await page.goto(`${base}/console/deployments/${deployment}`);
  expect(resp && resp.status() === 200, "the deployment page answers 200");
  await page.evaluate(() => { window.__notReloaded = true; });
  expect((await page.locator("dd.weight").textContent()) === "10%", "10 % on the new version");
  await page.getByRole("img", { name: /^Alarm hello-errors: datapoints per period/ }).waitFor();
  await page.screenshot({ path: join(shots, "canary-10.png"), fullPage: true });
  console.log("ready");
  await page.locator("dd.weight").filter({ hasText: /^0%$/ }).waitFor({ timeout: 60000 });
  await page.locator(".summary .badge").filter({ hasText: "Stopped" }).waitFor({ timeout: 10000 });
  const alarm = page.locator(".alarm");
  await alarm.locator("h3 .badge").filter({ hasText: "ALARM" }).waitFor();
  expect(await alarm.locator("text.mark").filter({ hasText: "ALARM" }).count() >= 1, "the change to ALARM is marked on the chart");
  expect(await alarm.locator("line.threshold").count() === 1, "the threshold line is drawn");
  expect(await alarm.locator("g.s0 circle").count() >= 1, "the datapoint is drawn");
  expect(await page.evaluate(() => window.__notReloaded === true), "the page updated without a reload");
  await page.screenshot({ path: join(shots, "canary-rolled-back.png"), fullPage: true });
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
console.log("ok: the page showed the rollback");
