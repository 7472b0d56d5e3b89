// Explain and find mistakes end to end (issue 6): the suggestion scatter across models, attribution
// widgets in sync, and the mistake neurons of the planted spurious feature, jumping to L1.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "./browser.mjs";
import { applyTool, closePage, getJson as pagesGetJson, openPage, settled, TIMEOUT } from "./pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";
let browser;
let tree;

const getJson = (route, body) => pagesGetJson(url, route, body);
const open = (state, options) => openPage(browser, url, state, options);
const close = closePage;
const apply = applyTool;

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
  tree = await getJson("tree");
});
after(async () => {
  await browser?.close();
});

describe("suggestions and attributions", () => {
  it("the suggestion scatter of three models; a click opens their attributions in sync", async () => {
    const page = await open({ level: "L3" });
    try {
      await waitForPaint(page, "L3");
      const classifiers = tree.experiments.find((e) => e.runs.includes("cnn_skip"));
      const card = await apply(page, "suggestions", `experiment:${classifiers.id}`);
      // Keep three models: cnn_small, cnn_wide, cnn_skip.
      const keep = ["cnn_small", "cnn_wide", "cnn_skip"];
      for (const run of classifiers.runs.filter((r) => !keep.includes(r))) {
        const box = card.locator(`.inn-model-chooser input[value="${run}"]`);
        if ((await box.count()) && (await box.isChecked())) {
          await box.uncheck();
          await settled(page);
        }
      }
      assert.match(await card.locator(".inn-caption").textContent(), /of 3 models/);
      const labels = (await getJson("data", { run: "cnn_small", unit: { kind: "labels" } })).result.value.shape[0];
      const points = card.locator(".inn-chart g.mark-symbol.role-mark path");
      assert.equal(await points.count(), labels, "one point per probe sample");
      // Hovering a sample previews it beside the scatter.
      await card.locator('.inn-chart path[aria-label*="probe sample 5;"], .inn-chart path[aria-label$="probe sample 5"]').first().dispatchEvent("mouseover");
      await page.waitForFunction((el) => el.querySelector(".inn-sample-preview")?.dataset.sample === "5", await card.elementHandle(), { timeout: TIMEOUT });
      await page.screenshot({ path: join(screenshots, "explain-suggestions.png") });

      // A sample that every one of the three models attributed.
      const attributed = await Promise.all(keep.map((run) => getJson("data", { run, unit: { kind: "attributions", method: "integrated_gradients", target: "predicted" } })));
      const shared = attributed.map((a) => a.result.sample.data).reduce((a, b) => a.filter((s) => b.includes(s)));
      assert.ok(shared.length > 0, "no sample is attributed in all three models");
      const sample = shared[0];
      // Points may overlap: the click goes to the sample's own mark (Vega resolves the event's target).
      await card.locator(`.inn-chart path[aria-label*="probe sample ${sample};"], .inn-chart path[aria-label$="probe sample ${sample}"]`).first().dispatchEvent("click");
      const group = page.locator(".inn-group-card").last();
      await group.waitFor({ timeout: TIMEOUT });
      await settled(page);
      const widgets = group.locator(".inn-widget[data-tool='attribution']");
      assert.equal(await widgets.count(), 3);
      const shown = await group.locator(".inn-attribution-facts").evaluateAll((els) => els.map((e) => e.dataset.sample));
      assert.deepEqual(shown, [String(sample), String(sample), String(sample)], "the three models show the same sample");
      const units = await widgets.locator(".inn-widget-unit").allTextContents();
      assert.deepEqual(units.sort(), [...keep].sort());
      assert.equal(await widgets.locator(".inn-chart svg").count(), 3);

      // Choosing another sample in one widget moves all three.
      const other = shared[1] ?? shared[0];
      await widgets.first().locator(".inn-widget-control select").nth(2).selectOption(String(other));
      await page.waitForFunction(
        (s) => [...document.querySelectorAll(".inn-group-card:last-of-type .inn-attribution-facts")].every((e) => e.dataset.sample === s),
        String(other),
        { timeout: TIMEOUT },
      );
      await settled(page);
      await page.screenshot({ path: join(screenshots, "explain-attributions.png") });

      // Relevance propagation (issue 14): the method menu offers what the model logged; LRP-ε redraws the map.
      const first = widgets.first();
      const methodMenu = first.locator(".inn-widget-control select").first();
      const offered = await methodMenu.locator("option").evaluateAll((els) => els.map((e) => e.value));
      const firstRun = (await first.locator(".inn-widget-unit").textContent()).trim();
      const logged = (await getJson("models")).models.find((m) => m.run === firstRun).attributions.methods;
      assert.ok(offered.includes("lrp_epsilon") && offered.includes("guided_backprop"), `offered: ${offered}`);
      assert.ok(!offered.includes("deep_taylor"), "deep_taylor is offered though no model logged it");
      assert.ok(offered.every((m) => logged.includes(m)), `offered ${offered}, logged ${logged}`);
      await methodMenu.selectOption("lrp_epsilon");
      // The map's title (the deletion curves' legend names LRP-ε whatever the map shows).
      await page.waitForFunction(
        (el) => [...el.querySelectorAll(".inn-chart g.role-title text")].some((t) => t.textContent === "LRP-ε"),
        await first.elementHandle(),
        { timeout: TIMEOUT },
      );
      await settled(page);
      assert.equal(await first.locator(".inn-attribution-facts").getAttribute("data-sample"), String(other), "the sample stays");
      await page.screenshot({ path: join(screenshots, "explain-attributions-lrp.png") });
    } finally {
      await close(page);
    }
  });
});

describe("mistake neurons", () => {
  it("the mistake neurons of the spurious-feature model jump to L1 with their matrix row", async () => {
    const page = await open({ level: "L3", classes: ["3"] });
    try {
      await waitForPaint(page, "L3");
      const card = await apply(page, "mistake-neurons", "model:spurious_dense");
      assert.match(await card.locator(".inn-caption").textContent(), /class 3/);
      const first = card.locator(".inn-mistake-list button").first();
      await first.waitFor({ timeout: TIMEOUT });
      const neuron = await first.getAttribute("data-neuron");
      const answer = await getJson("mistakes?run=spurious_dense&class=3");
      assert.equal(Number(neuron), [...answer.neurons].sort((a, b) => b.share - a.share || a.index - b.index)[0].index);
      await first.click();
      await waitForPaint(page, "L1");
      const key = `neuron:${answer.feature_layer}:${neuron}`;
      await page.waitForSelector(`[data-unit="${key}"].inn-focus`, { timeout: TIMEOUT });
      await page.waitForSelector(`tr[data-neuron="${key}"].inn-focus-row`, { timeout: TIMEOUT });
      assert.match(await page.textContent("#inn-crumbs"), new RegExp(answer.feature_layer));
      await page.screenshot({ path: join(screenshots, "explain-mistake-neurons.png") });
    } finally {
      await close(page);
    }
  });
});
