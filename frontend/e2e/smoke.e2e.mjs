// Smoke test of the iNNspector tab in TensorBoard's own UI, in headless Chromium.
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 SCREENSHOT_DIR=test-output/screenshots \
//     node --test --test-reporter=spec frontend/e2e/*.e2e.mjs
//
// (tests/test_frontend_e2e.py starts TensorBoard on the demo logs and runs these files.)
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { PLUGIN, launchBrowser, openTensorBoardTab, waitForPaint } from "./browser.mjs";

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

test("TensorBoard lists the iNNspector tab and its iframe loads our module", async () => {
  const listing = await (await fetch(`${url}/data/plugins_listing`)).json();
  assert.equal(listing[PLUGIN]?.tab_name, "iNNspector");
  assert.equal(listing[PLUGIN]?.enabled, true, "the plugin is inactive: no iNNspector data in the logdir?");

  const errors = [];
  const { page, frame } = await openTensorBoardTab(browser, url, {
    // Uncaught exceptions of the page and its frames, from the first script on.
    setup: (p) => p.on("pageerror", (error) => errors.push(String(error.stack || error))),
  });
  try {
    // The tab of our plugin in TensorBoard's header, selected since the URL says #innspector.
    const label = page.locator(`.plugin-name[data-plugin-id="${PLUGIN}"]`);
    await label.waitFor({ state: "visible", timeout: 30_000 });
    assert.equal((await label.textContent()).trim(), "iNNspector"); // displayed upper-case by CSS
    const tab = page.locator('[role="tab"]', { has: label });
    assert.equal(await tab.getAttribute("aria-selected"), "true");

    // The iframe is TensorBoard's entry document for module plugins, which imports our index.js.
    assert.match(frame.url(), /\/data\/plugin_entry\.html\?name=innspector$/);
    const moduleUrl = await frame.evaluate(() =>
      performance
        .getEntriesByType("resource")
        .map((entry) => entry.name)
        .find((name) => name.endsWith("/data/plugin/innspector/index.js")),
    );
    assert.ok(moduleUrl, "the iframe did not load /data/plugin/innspector/index.js");

    // Our module rendered something into the iframe's body: an element that is not the entry
    // document's own <script>, and visible text.
    await frame.waitForFunction(
      () =>
        document.body &&
        [...document.body.children].some((el) => el.tagName !== "SCRIPT") &&
        document.body.innerText.trim().length > 0,
      null,
      { timeout: 30_000, polling: 100 },
    );
    const text = (await frame.evaluate(() => document.body.innerText)).trim();
    assert.ok(text.length > 0, "the iNNspector iframe body is empty");
    // For a useful screenshot, give the first view (L3 in a fresh browser) a moment to be drawn;
    // this test does not require it (inspection.e2e.mjs tests the views).
    await waitForPaint(frame, "L3", { timeout: 10_000 }).catch(() => {});
    await page.screenshot({ path: join(screenshots, "tab.png") });
    assert.deepEqual(errors, [], `uncaught errors in the page:\n${errors.join("\n")}`);
  } finally {
    await page.context().close();
  }
});
