// Plain runs beside ours end to end (issue "Existing TensorBoard set-ups", item 1): a run of Keras' own
// TensorBoard callback, a custom loop's tf.summary run and one of ours, in headless Chromium on a real
// TensorBoard (tests/test_frontend_e2e.py::test_plain_runs_end_to_end writes the logdir and links the two
// plain runs under ours, so the three are one experiment).
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 SCREENSHOT_DIR=test-output/screenshots \
//     node --test --test-reporter=spec frontend/e2e/plain/plain_runs.e2e.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "../browser.mjs";
import { applyTool, axisLabels, closePage, getJson as pagesGetJson, openPage, TIMEOUT } from "../pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";

let browser;
let tree;

const getJson = (route, body) => pagesGetJson(url, route, body);
const open = (state) => openPage(browser, url, state);

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
  tree = await getJson("tree");
});
after(async () => {
  await browser?.close();
});

describe("plain runs beside ours", () => {
  it("the three models side by side in one Performance Metrics widget", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      assert.equal(await page.locator(".inn-model.inn-plain").count(), 2, "the two plain runs are drawn as plain");
      // The tree coloured by a final metric all three report: three fills, a legend.
      await page.selectOption("#inn-color-by", "metric:loss");
      const fills = await page.$$eval("[data-unit^='model:'] .inn-model-box", (rects) => rects.map((r) => r.getAttribute("fill")));
      assert.equal(new Set(fills).size, 3, `fills ${fills}`);
      assert.match(await page.textContent("#inn-color-by-legend"), /blue .* red/);
      await page.screenshot({ path: join(screenshots, "plain-runs-colour-by.png") });
      await page.selectOption("#inn-color-by", "");
      // Tools that need iNNspector data are greyed out on a plain run.
      await page.click("[data-tool='confusion-matrix']");
      await page.waitForSelector("[data-unit='model:stock_keras'].inn-inapplicable", { timeout: TIMEOUT });
      await page.click("[data-tool='confusion-matrix']");
      const experiment = tree.experiments.find((e) => e.runs.includes("stock_keras"));
      assert.deepEqual([...experiment.runs].sort(), ["custom_loop", "ours", "stock_keras"]);
      const all = await applyTool(page, "performance-metrics", `experiment:${experiment.id}`);
      const text = await all.textContent();
      for (const run of experiment.runs) assert.ok(text.includes(run), `${run} missing from the widget`);
      assert.equal(await all.locator(".inn-chart svg").count(), 1);
      await page.screenshot({ path: join(screenshots, "plain-runs-metrics.png") });
    } finally {
      await closePage(page);
    }
  });

  it("a plain run's loss curves merge with ours", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      const first = await applyTool(page, "performance-metrics", "model:stock_keras");
      const second = await applyTool(page, "performance-metrics", "model:ours");
      await second.locator(".inn-widget-head").dragTo(first.locator(".inn-widget-head"));
      const group = page.locator(".inn-group-card");
      await group.waitFor({ timeout: TIMEOUT });
      await group.locator(".inn-open-group").click();
      await page.waitForSelector("#inn-overlay .inn-overlay-cell svg", { timeout: TIMEOUT });
      await page.check("#inn-merge");
      const merged = page.locator("#inn-overlay [data-merged='true']");
      await merged.locator("svg").waitFor({ timeout: TIMEOUT });
      const legend = await merged.textContent();
      assert.ok(legend.includes("stock_keras") && legend.includes("ours"), legend);
      await page.screenshot({ path: join(screenshots, "plain-runs-merged.png") });
    } finally {
      await closePage(page);
    }
  });

  it("a plain run's logged images: a tag, a step on the slider, and two models side by side", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      // Offered where images were logged, greyed out on ours (no tf.summary.image).
      await page.click("[data-tool='logged-images']");
      await page.waitForSelector("[data-unit='model:ours'].inn-inapplicable", { timeout: TIMEOUT });
      const ours = await page.locator("[data-unit='model:ours']").first().boundingBox();
      await page.mouse.click(ours.x + 12, ours.y + 12);
      await page.waitForSelector(".inn-flash", { timeout: TIMEOUT });
      assert.match(await page.textContent(".inn-flash"), /Logged Images does not apply to .*: no images logged/);
      if (await page.locator("[data-tool='logged-images'].inn-active, [data-tool='logged-images'][aria-pressed='true']").count()) {
        await page.click("[data-tool='logged-images']");
      }
      const card = await applyTool(page, "logged-images", "model:custom_loop");
      const loaded = (el) =>
        [...el.querySelectorAll("img.inn-logged-image")].length > 0 &&
        [...el.querySelectorAll("img.inn-logged-image")].every((img) => img.complete && img.naturalWidth > 0);
      await page.waitForFunction(loaded, await card.elementHandle(), { timeout: TIMEOUT });
      const sizes = await card.locator("img.inn-logged-image").evaluateAll((imgs) => imgs.map((img) => [img.naturalWidth, img.naturalHeight]));
      assert.deepEqual(sizes, [[6, 8], [6, 8]], "the two 8x6 samples of the last step, as logged");
      assert.match(await card.locator(".inn-caption").textContent(), /samples, step 3/);
      // The slider to the first step: the widget reloads with step 0's images.
      await card.locator("input[type=range]").evaluate((slider) => {
        slider.value = "0";
        slider.dispatchEvent(new Event("change"));
      });
      await page.waitForFunction(
        (el) => el.dataset.state === "ready" && /step 0(?!\d)/.test(el.querySelector(".inn-caption")?.textContent ?? ""),
        await card.elementHandle(),
        { timeout: TIMEOUT },
      );
      await page.waitForFunction(loaded, await card.elementHandle(), { timeout: TIMEOUT });
      assert.match(await card.locator("img.inn-logged-image").first().getAttribute("src"), /step=0/);
      // Applied to the experiment: one column per model that logged images, side by side.
      const experiment = tree.experiments.find((e) => e.runs.includes("custom_loop"));
      const both = await applyTool(page, "logged-images", `experiment:${experiment.id}`);
      const columns = await both.locator(".inn-image-column").evaluateAll((cols) => cols.map((c) => c.dataset.model));
      assert.deepEqual([...columns].sort(), ["custom_loop", "stock_keras"]);
      await page.screenshot({ path: join(screenshots, "plain-runs-logged-images.png") });
    } finally {
      await closePage(page);
    }
  });

  it("the Keras run's dense/kernel histogram at two steps, on a common scale with ours", async () => {
    const page = await open({ level: "L2", run: "ours" });
    try {
      let count = await waitForPaint(page, "L2");
      await applyTool(page, "histogram", "var:out/kernel");
      await page.click("#inn-crumbs [data-level='L3']");
      count = await waitForPaint(page, "L3", { after: count });
      assert.equal(await page.locator(".inn-widget").count(), 1, "the widget stays while the view changes");
      await page.dblclick("[data-unit='model:stock_keras'] .inn-model-box");
      await waitForPaint(page, "L2", { after: count });
      assert.equal(await page.locator(".inn-widget").count(), 1, "the widget stays on the plain run's graph");
      const last = await applyTool(page, "histogram", "var:dense/kernel");
      assert.match(await last.textContent(), /step 2/);
      assert.equal(await page.locator(".inn-widget").count(), 2);
      const first = await applyTool(page, "histogram", "var:dense/kernel");
      await first.locator(".inn-widget-control select").first().selectOption("0");
      await page.waitForFunction(
        (el) => el.dataset.state === "ready" && /step 0(?!\d)/.test(el.querySelector(".inn-caption")?.textContent ?? ""),
        await first.elementHandle(),
        { timeout: TIMEOUT },
      );
      // By widget id: grouping moves cards, so positions change under the drags.
      const ids = await page.$$eval(".inn-widget", (cards) => cards.map((c) => c.getAttribute("data-widget")));
      assert.equal(ids.length, 3);
      const head = (id) => page.locator(`.inn-widget[data-widget='${id}'] .inn-widget-head`);
      await head(ids[2]).dragTo(head(ids[0]));
      await head(ids[1]).dragTo(head(ids[0]));
      const group = page.locator(".inn-group-card");
      await group.waitFor({ timeout: TIMEOUT });
      assert.equal(await group.locator(".inn-widget").count(), 3);
      await group.locator(".inn-open-group").click();
      await page.waitForFunction(() => document.querySelectorAll("#inn-overlay .inn-overlay-cell svg").length === 3, null, { timeout: TIMEOUT });
      await page.check("#inn-common-scale");
      await page.waitForFunction(() => document.querySelectorAll("#inn-overlay .inn-overlay-cell svg").length === 3, null, { timeout: TIMEOUT });
      const cells = page.locator("#inn-overlay .inn-overlay-cell");
      const x = [await axisLabels(cells.nth(0), "X"), await axisLabels(cells.nth(1), "X"), await axisLabels(cells.nth(2), "X")];
      assert.ok(x[0].length > 1, "no axis labels found");
      assert.deepEqual(x[1], x[0], "the common scale gives the plain run's histogram the x axis of ours");
      assert.deepEqual(x[2], x[0]);
      await page.screenshot({ path: join(screenshots, "plain-runs-histograms.png") });
    } finally {
      await closePage(page);
    }
  });
});
