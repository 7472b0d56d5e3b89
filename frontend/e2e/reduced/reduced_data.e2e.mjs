// Reduced data end to end (issue "Real scale", item 4): widgets on layers the logging plan reduced show
// what they rest on, in headless Chromium on a real TensorBoard serving a ResNet-style toy logged with
// reduced data (tests/support/reduced_run.py; run by tests/test_frontend_e2e.py::test_reduced_data_end_to_end).
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 SCREENSHOT_DIR=test-output/screenshots \
//     node --test --test-reporter=spec frontend/e2e/reduced/reduced_data.e2e.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "../browser.mjs";
import { applyTool, closePage, getJson as pagesGetJson, openPage, TIMEOUT } from "../pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";
const RUN = "resnet_reduced";

let browser;

const getJson = (route, body) => pagesGetJson(url, route, body);
const open = (state) => openPage(browser, url, state);

/** The reduced-data caption of a widget card. */
async function noteOf(card) {
  const note = card.locator(".inn-reduced-note");
  await note.waitFor({ timeout: TIMEOUT });
  return note.textContent();
}

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
  const models = (await getJson("models")).models;
  assert.ok(models.find((m) => m.run === RUN)?.plan?.reduced, `${RUN} is logged with reduced data`);
});
after(async () => {
  await browser?.close();
});

describe("widgets on reduced data", () => {
  it("a model's tooltip says what its logging plan reduced", async () => {
    const page = await open({ level: "L3" });
    try {
      await waitForPaint(page, "L3");
      await page.hover(`[data-run='${RUN}'] .inn-model-box`);
      const tooltip = page.locator(".inn-tooltip");
      await tooltip.locator(".inn-reduced-note").first().waitFor({ timeout: TIMEOUT });
      const notes = await tooltip.locator(".inn-reduced-note").allTextContents();
      const plan = (await getJson("models")).models.find((m) => m.run === RUN).plan;
      assert.deepEqual(notes, plan.notes);
      assert.ok(notes.some((n) => /full weights every 2 logged steps/.test(n)), notes.join(" | "));
    } finally {
      await closePage(page);
    }
  });


  it("a projection of a pooled layer says it is pooled; activation maps show the sample subset", async () => {
    const page = await open({ level: "L2", run: RUN });
    try {
      await waitForPaint(page, "L2");
      const projection = await applyTool(page, "projection", "layer:wide_conv");
      assert.match(await noteOf(projection), /pooled over 8x8 positions \(mean per channel\)/);
      assert.equal(await projection.locator(".inn-chart svg").count(), 1);
      const maps = await applyTool(page, "activation-maps", "layer:wide_conv");
      assert.match(await noteOf(maps), /6 of 40 probe samples/);
      assert.match(await maps.textContent(), /no class mean maps stored/);
      // A layer with statistics only: per-sample tools do not apply, the statistics do.
      await page.click("[data-tool='projection']");
      await page.waitForSelector("[data-unit='layer:add'].inn-inapplicable", { timeout: TIMEOUT });
      await page.click("[data-tool='projection']"); // deselect
      await page.screenshot({ path: join(screenshots, "reduced-widgets.png") });
    } finally {
      await closePage(page);
    }
  });

  it("kernel images of rotating weights say which step the kernel is from", async () => {
    const page = await open({ level: "L2", run: RUN });
    try {
      await waitForPaint(page, "L2");
      // proj's full weights are logged at steps 0 and 2; the last step is 3.
      const kernel = await applyTool(page, "kernel-images", "var:proj/kernel");
      assert.match(await noteOf(kernel), /kernel from step 2/);
      const statistics = await applyTool(page, "statistics", "layer:add");
      assert.equal(await statistics.locator(".inn-reduced-note").count(), 0, "statistics come from the event file");
    } finally {
      await closePage(page);
    }
  });

  it("the L1 view of a 256-channel convolution without full activations", async () => {
    const page = await open({ level: "L1", run: RUN, layer: "proj", k: 5 });
    try {
      await waitForPaint(page, "L1");
      const neurons = await getJson(`neurons?run=${RUN}&layer=proj&k=5`);
      assert.equal(neurons.layer.units, 256);
      const drawn = await page.$$eval("[data-unit^='neuron:']", (els) => els.length);
      assert.equal(drawn, neurons.layer.neurons.length + neurons.previous.neurons.length);
      const note = await page.locator(".inn-l1-side .inn-reduced-note").textContent();
      assert.match(note, /kernel from step 2/);
      await page.screenshot({ path: join(screenshots, "reduced-L1.png") });
    } finally {
      await closePage(page);
    }
  });
});
