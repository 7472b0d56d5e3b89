// The browser half of bench/widgets.py: time from applying the Histogram tool to a unit to the
// painted widget, in headless Chromium against a running TensorBoard.
//
//   node frontend/e2e/bench_widgets.mjs URL --run RUN --unit "var:LAYER/kernel" [--repeats 5]
//
// Each repeat opens a fresh browser context on the L2 view of RUN, selects the tool, clicks the
// unit, and times (performance.now in the page) from the click to the widget's chart on screen
// (its card says data-state="ready" and a frame has passed): the "cold" figure (Vega's chunk and
// TensorBoard's caches not yet loaded for this page; the server may have the data cached from an
// earlier repeat, reported separately as the first repeat). Then, in the same page, the tool is
// applied again to the same unit: the "warm" figure. Prints JSON to stdout.
import { parseArgs } from "node:util";

import { appState, launchBrowser, openInnspector, waitForPaint } from "./browser.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    run: { type: "string" },
    unit: { type: "string" },
    tool: { type: "string", default: "histogram" },
    repeats: { type: "string", default: "5" },
    timeout: { type: "string", default: "60" },
  },
});
const url = positionals[0];
const timeout = Number(values.timeout) * 1000;

/** Selects the tool, clicks the unit, waits for the new widget's chart; returns ms. */
async function apply(page) {
  const before = await page.locator(".inn-widget").count();
  await page.click(`[data-tool="${values.tool}"]`);
  const target = page.locator(`[data-unit="${values.unit}"]`).first();
  await target.waitFor({ state: "visible", timeout });
  await page.waitForSelector(`[data-unit="${values.unit}"].inn-applicable`, { timeout });
  const box = await target.boundingBox();
  await page.evaluate(() => (window.__applyStart = performance.now()));
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  const handle = await page.waitForFunction(
    (count) => {
      const cards = document.querySelectorAll(".inn-widget");
      if (cards.length <= count) return false;
      const card = cards[cards.length - 1];
      if (card.dataset.state === "error") return { error: card.textContent };
      if (card.dataset.state !== "ready") return false;
      return new Promise((resolve) => requestAnimationFrame(() => resolve({ ms: performance.now() - window.__applyStart })));
    },
    before,
    { timeout, polling: "raf" },
  );
  const result = await handle.jsonValue();
  if (result.error) throw new Error(`the widget failed: ${result.error}`);
  return result.ms;
}

const browser = await launchBrowser();
const cold = [];
const warm = [];
let error = null;
try {
  for (let i = 0; i < Number(values.repeats); i++) {
    const { page } = await openInnspector(browser, url, { state: appState({ level: "L2", run: values.run }), viewport: { width: 1400, height: 900 } });
    await waitForPaint(page, "L2", { timeout });
    cold.push(await apply(page));
    warm.push(await apply(page));
    process.stderr.write(`  repeat ${i + 1}: ${cold.at(-1).toFixed(0)} ms cold, ${warm.at(-1).toFixed(0)} ms warm\n`);
    await page.context().close();
  }
} catch (e) {
  error = String(e?.message ?? e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ url, run: values.run, unit: values.unit, tool: values.tool, cold_ms: cold, warm_ms: warm, error }, null, 1) + "\n");
