// Traced custom layers end to end (issue 11): the keras.io transformer's TransformerBlock, traced on
// symbolic inputs (innspector_tb/capture/tracing.py), is a namespace at L2 that opens to its attention,
// normalisations and feed-forward, a tool applied to the attention layer draws its activations, and the
// Attention tool its scores per head with each head's entropy.
// Headless Chromium on a real TensorBoard serving the keras.io VAE and transformer trained briefly
// (tests/support/keras_io_models.py; run by tests/test_frontend_e2e.py::test_traced_models_end_to_end).
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 SCREENSHOT_DIR=test-output/screenshots \
//     node --test --test-reporter=spec frontend/e2e/traced/traced.e2e.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "../browser.mjs";
import { applyTool, closePage, getJson, openPage, TIMEOUT, waitReady } from "../pages.mjs";

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

describe("traced custom layers", () => {
  it("a TransformerBlock opens at L2 to its sub-layers, whose activations a tool draws", async () => {
    const arch = (await getJson(url, "graph?run=transformer")).architecture;
    const block = arch.namespaces.find((ns) => ns.type === "TransformerBlock");
    assert.ok(block?.traced, "the block is a traced namespace");
    const types = new Map(arch.layers.map((layer) => [layer.id, layer.type]));
    const attention = block.layers.find((id) => types.get(id) === "MultiHeadAttention");
    const norms = block.layers.filter((id) => types.get(id) === "LayerNormalization");
    const ffn = arch.namespaces.find((ns) => ns.parent === block.id);
    assert.ok(attention && norms.length === 2 && ffn);

    const page = await openPage(browser, url, { level: "L2", run: "transformer" });
    try {
      let count = await waitForPaint(page, "L2");
      const group = page.locator(`[data-unit='group:${block.id}']`);
      assert.equal(await group.count(), 1);
      assert.match(await group.textContent(), /TransformerBlock \(traced\) · \d+ layers/);
      assert.equal(await page.locator(`#inn-stage [data-layer='${attention}']`).count(), 0, "a closed block hides its layers");
      await group.locator(".inn-group-box").dblclick();
      count = await waitForPaint(page, "L2", { after: count });
      assert.equal(await page.locator(`#inn-stage [data-layer='${attention}']`).count(), 1);
      for (const norm of norms) assert.equal(await page.locator(`#inn-stage [data-layer='${norm}']`).count(), 1);
      assert.equal(await page.locator(`[data-unit='group:${ffn.id}']`).count(), 1, "the feed-forward is a nested namespace");
      await page.screenshot({ path: join(screenshots, "traced-transformer-block.png") });

      // The tool on the layer itself: its name, not an operation or variable of its inner graph.
      const unit = `layer:${attention}`;
      await page.click(`[data-tool="json:activation-histogram"]`);
      await page.waitForSelector(`[data-unit="${unit}"].inn-applicable`, { timeout: TIMEOUT });
      await page.click(`[data-unit="${unit}"] .inn-layer-name`);
      const card = page.locator(".inn-widget").first();
      await card.waitFor({ timeout: TIMEOUT });
      await waitReady(card);
      assert.match(await card.textContent(), new RegExp(`${attention}`));
      assert.equal(await card.locator(".inn-chart svg").count(), 1, "the attention's activation histogram is drawn");
      await page.screenshot({ path: join(screenshots, "traced-attention-histogram.png") });
    } finally {
      await closePage(page);
    }
  });

  it("the Attention tool draws the attention's scores per head with each head's entropy", async () => {
    const arch = (await getJson(url, "graph?run=transformer")).architecture;
    const block = arch.namespaces.find((ns) => ns.type === "TransformerBlock");
    const attention = block.layers.find((id) => arch.layers.find((layer) => layer.id === id)?.type === "MultiHeadAttention");
    const entropy = await getJson(url, "data", { run: "transformer", unit: { kind: "attention_entropy", layer: attention } });
    const [samples, heads] = entropy.result.value.shape;
    const perHead = Array.from({ length: heads }, (_, h) => entropy.result.value.data.reduce((sum, row) => sum + row[h], 0) / samples);
    const scores = await getJson(url, "data", { run: "transformer", unit: { kind: "attention", layer: attention, sample: 0 } });
    const [, queries, keys] = scores.result.value.shape;

    const page = await openPage(browser, url, { level: "L2", run: "transformer" });
    try {
      let count = await waitForPaint(page, "L2");
      await page.locator(`[data-unit='group:${block.id}'] .inn-group-box`).dblclick();
      count = await waitForPaint(page, "L2", { after: count });
      const card = await applyTool(page, "attention", `layer:${attention}`);
      const text = await card.textContent();
      assert.match(text, new RegExp(`probe sample 0 .*${heads} heads × ${queries} queries × ${keys} keys`));
      // the entropy table: the probe's row, each head's mean of the served entropies
      const probeRow = await card.locator(".inn-attention-entropy tr").nth(1).locator("td").allTextContents();
      assert.deepEqual(probeRow, ["probe", ...perHead.map((v) => v.toFixed(2))]);
      assert.equal(await card.locator(".inn-chart svg").count(), 1, "one chart, a heatmap per head");
      const cells = await card.locator(".inn-chart svg path.mark-rect, .inn-chart svg g.mark-rect path").count();
      assert.ok(cells >= heads * queries * keys, `a cell per head, query and key (${cells})`);
      await page.screenshot({ path: join(screenshots, "traced-attention-scores.png") });

      // a class's mean instead of one sample
      await card.locator("select").last().selectOption("class:1");
      await page.waitForFunction((el) => /mean over class 1/.test(el.textContent) && el.dataset.state === "ready", await card.elementHandle(), { timeout: TIMEOUT });
    } finally {
      await closePage(page);
    }
  });
});
