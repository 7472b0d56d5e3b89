// The demo's text models (token sequences, not images) in every view: each tool that applies to their
// model, to their embedding and recurrent layers and to the transformer's attention draws its widget
// without an error, and the Attribution tool shows a token attribution: the sample's words (the logged
// vocabulary) coloured by the values the data route serves. Headless Chromium on a real TensorBoard
// serving the demo (tests/test_frontend_e2e.py).
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 node --test --test-reporter=spec frontend/e2e/text.e2e.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "./browser.mjs";
import { applyTool, closePage, getJson, openPage, TIMEOUT } from "./pages.mjs";

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

/** Applies every tool that applies to `unit`; returns [tool, state, text] of each widget drawn. */
async function everyTool(page, unit) {
  const tools = [...new Set(await page.locator("[data-tool]").evaluateAll((els) => els.map((e) => e.getAttribute("data-tool"))))];
  const drawn = [];
  for (const tool of tools) {
    await page.click(`[data-tool="${tool}"]`);
    // the toolbox marks the unit applicable or not (some tools answer asynchronously)
    await page.waitForSelector(`[data-unit="${unit}"].inn-applicable, [data-unit="${unit}"].inn-inapplicable`, { timeout: TIMEOUT });
    if (await page.locator(`[data-unit="${unit}"].inn-applicable`).count()) {
      const before = await page.locator(".inn-widget").count();
      const box = await page.locator(`[data-unit="${unit}"]`).first().boundingBox();
      await page.mouse.click(box.x + Math.min(12, box.width / 2), box.y + Math.min(12, box.height / 2));
      await page.waitForFunction((n) => document.querySelectorAll(".inn-widget").length > n, before, { timeout: TIMEOUT });
      const card = page.locator(".inn-widget").nth(before);
      await page.waitForFunction((el) => el.dataset.state === "ready" || el.dataset.state === "error", await card.elementHandle(), { timeout: TIMEOUT });
      drawn.push([tool, await card.getAttribute("data-state"), (await card.textContent()).slice(0, 300)]);
    } else {
      await page.click(`[data-tool="${tool}"]`); // deselect (applying a tool deselects it)
    }
  }
  return drawn;
}

describe("text models", () => {
  it("every tool that applies to a text model's units draws its widget", async () => {
    const arch = (await getJson(url, "graph?run=transformer_text")).architecture;
    const attention = arch.layers.find((layer) => layer.type === "MultiHeadAttention");
    assert.ok(attention, "the transformer's attention is a unit of its traced block");
    const cases = [
      { state: { level: "L3" }, unit: "model:transformer_text", expect: ["performance-metrics", "confusion-matrix", "suggestions", "attribution"] },
      { state: { level: "L3" }, unit: "model:bilstm_text", expect: ["performance-metrics", "mistake-neurons", "attribution"] },
      { state: { level: "L2", run: "bilstm_text" }, unit: "layer:bilstm", expect: ["histogram", "projection"] },
      { state: { level: "L2", run: "bilstm_text" }, unit: "layer:embedding", expect: ["feature-distribution"] },
      { state: { level: "L2", run: "transformer_text" }, unit: "layer:dense_hidden", expect: ["kernel-images", "neurons-by-classes"] },
    ];
    for (const c of cases) {
      const page = await openPage(browser, url, c.state);
      try {
        await waitForPaint(page, c.state.level);
        const drawn = await everyTool(page, c.unit);
        const failed = drawn.filter(([, state]) => state !== "ready");
        assert.deepEqual(failed, [], `${c.unit}: widgets that failed`);
        const tools = drawn.map(([tool]) => tool);
        for (const tool of c.expect) assert.ok(tools.includes(tool), `${c.unit}: ${tool} did not apply (${tools})`);
        if (c.unit === "model:transformer_text") await page.screenshot({ path: join(screenshots, "text-models.png") });
      } finally {
        await closePage(page);
      }
    }
  });

  it("shows a token attribution: the sample's words coloured by the served values", async () => {
    const run = "bilstm_text";
    const vocabulary = (await getJson(url, `vocabulary?run=${run}`)).tokens;
    const page = await openPage(browser, url, { level: "L3" });
    try {
      await waitForPaint(page, "L3");
      const card = await applyTool(page, "attribution", `model:${run}`);
      const method = await card.locator(".inn-widget-control select").first().inputValue();
      assert.ok(["integrated_gradients", "gradient_x_embedding"].includes(method), `a token method is shown (${method})`);
      const sample = Number(await card.locator(".inn-attribution-facts").getAttribute("data-sample"));
      const answer = await getJson(url, "data", { run, unit: { kind: "attributions", method, target: "predicted" }, steps: "last" });
      const row = answer.result.sample.data.indexOf(sample);
      assert.ok(row >= 0, "the sample shown is attributed");
      const values = answer.result.value.data[row];
      const ids = (await getJson(url, "data", { run, unit: { kind: "samples" }, transform: [{ op: "select", indices: [sample], axis: 0 }] })).result.value.data[0];
      assert.equal(values.length, ids.length, "one value per token");
      // The strip writes each token of the sample, in order, as the vocabulary names it.
      const words = await card.locator(".inn-chart svg g.mark-text.role-mark text").evaluateAll((els) => els.map((e) => e.textContent));
      assert.deepEqual(words, ids.map((id) => vocabulary[id]));
      // Each token's cell carries its served attribution (the tooltip fields, in Vega's aria label).
      const cells = await card.locator(".inn-chart svg g.mark-rect.role-mark path").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
      const shown = cells.filter(Boolean).map((label) => {
        const position = Number(/position: (\d+)/.exec(label)[1]);
        const value = Number(/attribution: ([−\d.e+-]+)/.exec(label)[1].replace("−", "-")); // Vega writes U+2212
        return [position, value];
      });
      assert.equal(shown.length, ids.length, "a cell per token");
      for (const [position, value] of shown) assert.ok(Math.abs(value - values[position]) < 1e-4, `token ${position}: ${value} shown, ${values[position]} served`);
      // The facts' tooltip holds the whole sequence as words.
      assert.equal(await card.locator(".inn-attribution-facts").getAttribute("title"), ids.map((id) => vocabulary[id]).join(" "));
      await page.screenshot({ path: join(screenshots, "text-token-attribution.png") });
    } finally {
      await closePage(page);
    }
  });
});
