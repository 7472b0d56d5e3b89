// "Anything abnormal" end to end (issue 16): the interestingness panel opens on the overview measure by
// default, lists the planted culprit, and a click on it opens the model at that layer with the evidence
// widget. Headless Chromium on a real TensorBoard serving small models with one planted pathology each
// (tests/support/pathology_models.py; run by tests/test_frontend_e2e.py::test_anything_abnormal_end_to_end).
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 SCREENSHOT_DIR=test-output/screenshots \
//     node --test --test-reporter=spec frontend/e2e/abnormal/abnormal.e2e.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, openInnspector, waitForPaint } from "../browser.mjs";
import { settled, TIMEOUT } from "../pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";

let browser;

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe("anything abnormal", () => {
  it("is the default measure, lists the planted culprit, and a click opens the evidence widget", async () => {
    // No saved state: what a new user sees.
    const { page } = await openInnspector(browser, url, { viewport: { width: 1500, height: 950 } });
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    try {
      await waitForPaint(page, "L3");
      await page.waitForFunction(() => document.querySelector(".inn-app")?.dataset.measure === "abnormal", null, { timeout: TIMEOUT });
      assert.equal(await page.$eval("#inn-measure", (el) => el.value), "abnormal");
      const entries = page.locator("#inn-interestingness .inn-toplist button");
      await entries.first().waitFor({ timeout: TIMEOUT });
      const texts = await entries.allTextContents();
      const culprit = texts.findIndex((t) => t.startsWith("sigmoid / culprit: saturation"));
      assert.ok(culprit >= 0 && culprit < 3, `the saturated sigmoid layer is not among the top 3: ${texts.join(" | ")}`);
      assert.ok(texts.some((t) => t.startsWith("frozen / culprit: weights never move")), texts.join(" | "));
      await page.screenshot({ path: join(screenshots, "abnormal-default.png") });

      const painted = Number(await page.evaluate(() => /:(\d+)$/.exec(document.documentElement.dataset.innspectorPainted)?.[1] ?? 0));
      await entries.nth(culprit).click();
      await waitForPaint(page, "L2", { after: painted });
      const widget = page.locator(".inn-widget[data-tool='histogram'][data-unit-key='layer:culprit']");
      await widget.waitFor({ timeout: TIMEOUT });
      await settled(page);
      assert.equal(await widget.getAttribute("data-state"), "ready");
      assert.equal(await widget.locator(".inn-chart svg").count(), 1, "the histogram over training is drawn");
      assert.match(await widget.textContent(), /step/);
      assert.match(await page.$eval("#inn-crumbs", (el) => el.textContent ?? ""), /sigmoid/);
      await page.screenshot({ path: join(screenshots, "abnormal-evidence.png") });
      assert.deepEqual(errors, []);
    } finally {
      await page.context().close();
    }
  });
});
