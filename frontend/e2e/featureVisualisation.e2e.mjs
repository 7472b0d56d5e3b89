// Feature visualisations end to end (issue 14, item 3): the images the callback optimised at the last step
// of the spurious-feature model, in the Feature Visualisation tool, beside the neurons of the Mistake
// Neurons widget, and in the L1 tooltip of such a neuron.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "./browser.mjs";
import { applyTool, closePage, getJson as pagesGetJson, openPage, TIMEOUT } from "./pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";
const RUN = "spurious_dense";
let browser;
let visuals;

const getJson = (route, body) => pagesGetJson(url, route, body);

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
  visuals = await getJson(`feature_visualisations?run=${RUN}`);
});
after(async () => {
  await browser?.close();
});

describe("feature visualisations", () => {
  it("the tool shows every logged image of the selected class, with what it reaches", async () => {
    const page = await openPage(browser, url, { level: "L3", classes: ["3"] });
    try {
      await waitForPaint(page, "L3");
      const card = await applyTool(page, "feature-visualisation", `model:${RUN}`);
      const mine = visuals.items.filter((i) => i.class === 3);
      assert.ok(mine.some((i) => i.source === "mistakes"), "the finder's neurons of class 3 were visualised");
      const figures = card.locator(".inn-fv-figure");
      assert.equal(await figures.count(), mine.length);
      const images = card.locator(".inn-fv-figure img.inn-fv-image");
      assert.equal(await images.count(), mine.reduce((n, i) => n + i.images.length, 0));
      // Drawn: data: URLs of the input's size, decoded by the browser.
      const sizes = await images.evaluateAll((els) => els.map((e) => [e.src.startsWith("data:image/png"), e.naturalWidth, e.naturalHeight]));
      assert.ok(sizes.every(([png, w, h]) => png && w === visuals.input_shape[1] && h === visuals.input_shape[0]), JSON.stringify(sizes));
      const first = mine[0];
      const title = await card.locator(`.inn-fv-figure[data-unit="${first.unit ?? -1}"][data-class="3"] img`).first().getAttribute("title");
      assert.match(title, new RegExp(`p${first.results[0].percentile.toFixed(1)}, class rank ${first.results[0].class_rank}`));
      assert.match(await card.locator(".inn-caption").textContent(), new RegExp(`step ${visuals.step}`));
      await page.screenshot({ path: join(screenshots, "feature-visualisation.png") });
    } finally {
      await closePage(page);
    }
  });

  it("the Mistake Neurons widget shows the images of its neurons, and their L1 tooltip too", async () => {
    const page = await openPage(browser, url, { level: "L3", classes: ["3"] });
    try {
      await waitForPaint(page, "L3");
      const card = await applyTool(page, "mistake-neurons", `model:${RUN}`);
      const answer = await getJson(`mistakes?run=${RUN}&class=3`);
      const visualised = new Set(visuals.items.filter((i) => i.layer === answer.feature_layer).map((i) => i.unit));
      const listed = await card.locator(".inn-mistake-list button").evaluateAll((els) => els.map((e) => Number(e.dataset.neuron)));
      const shown = listed.filter((n) => visualised.has(n));
      assert.ok(shown.length > 0, `no listed neuron (${listed}) has a visualisation (${[...visualised]})`);
      for (const neuron of listed) {
        const line = card.locator(".inn-mistake-list > div").filter({ has: page.locator(`button[data-neuron="${neuron}"]`) });
        const count = await line.locator("img.inn-fv-image").count();
        assert.equal(count > 0, visualised.has(neuron), `neuron ${neuron}: ${count} images`);
      }
      // The images of the analysed class come first when there are several.
      const neuron = shown[0];
      const classes = visuals.items.filter((i) => i.layer === answer.feature_layer && i.unit === neuron).map((i) => i.class);
      const expected = classes.includes(3) ? 3 : classes[0];
      const line = card.locator(".inn-mistake-list > div").filter({ has: page.locator(`button[data-neuron="${neuron}"]`) });
      assert.equal(await line.locator("img.inn-fv-image").first().getAttribute("data-class"), String(expected));
      await page.screenshot({ path: join(screenshots, "feature-visualisation-mistakes.png") });

      // A click shows the neuron at L1; hovering it shows its visualisation in the tooltip.
      await line.locator("button").click();
      await waitForPaint(page, "L1");
      const key = `neuron:${answer.feature_layer}:${neuron}`;
      await page.waitForSelector(`[data-unit="${key}"].inn-focus`, { timeout: TIMEOUT });
      // The neuron's mark (its group's box also spans its label).
      const box = await page.locator(`[data-unit="${key}"] > :first-child`).boundingBox();
      await page.mouse.move(box.x + box.width / 2 - 2, box.y + box.height / 2 - 2);
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 3 });
      await page.waitForSelector(".inn-tooltip:not([hidden]) .inn-l1-fv img.inn-fv-image", { timeout: TIMEOUT }).catch(async (e) => {
        throw new Error(`${e.message}\ntooltip: ${await page.locator(".inn-tooltip").evaluate((el) => el.outerHTML)}`);
      });
      const tip = await page.locator(".inn-tooltip .inn-l1-fv").textContent();
      assert.match(tip, new RegExp(`feature visualisation with class \\d+ \\(step ${visuals.step}\\)`));
      await page.screenshot({ path: join(screenshots, "feature-visualisation-l1.png") });
    } finally {
      await closePage(page);
    }
  });
});
