// Faithfulness at a glance (issue 14): the Attribution widget draws each logged method's deletion curve
// beside the random ranking's, and lists the areas of the sample shown and of the model; the numbers
// on the page are those the data route serves.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "./browser.mjs";
import { applyTool, closePage, getJson as pagesGetJson, openPage, settled, TIMEOUT } from "./pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";
let browser;

const getJson = (route, body) => pagesGetJson(url, route, body);

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The areas table of a widget: {method: {sample, model}} as the page shows them (text and exact value). */
async function shownAreas(card) {
  return card.locator("table.inn-deletion-areas tbody tr").evaluateAll((rows) =>
    Object.fromEntries(
      rows.map((tr) => {
        const cell = (kind) => {
          const td = tr.querySelector(`td.inn-area-${kind}`);
          return { text: td.textContent, value: td.dataset.value === "" ? null : Number(td.dataset.value) };
        };
        return [tr.dataset.method, { sample: cell("sample"), model: cell("model"), chosen: tr.classList.contains("inn-chosen") }];
      }),
    ),
  );
}

function checkAgainst(shown, served, row) {
  assert.deepEqual(Object.keys(shown).sort(), served.curves.map((c) => c.method).sort(), "one row per method and the random ranking");
  for (const curve of served.curves) {
    const { sample, model } = shown[curve.method];
    const expected = curve.auc[row];
    assert.equal(sample.value, expected, `${curve.method}: the sample's area`);
    assert.equal(model.value, curve.model_auc, `${curve.method}: the model's area`);
    assert.equal(sample.text, expected === null ? "–" : expected.toFixed(3));
    assert.equal(model.text, curve.model_auc === null ? "–" : curve.model_auc.toFixed(3));
  }
}

describe("faithfulness", () => {
  it("the Attribution widget shows each method's deletion curve and areas as served", async () => {
    const run = "cnn_small";
    const page = await open({ level: "L3" });
    try {
      await waitForPaint(page, "L3");
      const card = await applyTool(page, "attribution", `model:${run}`);
      await card.locator("table.inn-deletion-areas").waitFor({ timeout: TIMEOUT });
      const method = await card.locator(".inn-widget-control select").first().inputValue();
      const sample = Number(await card.locator(".inn-attribution-facts").getAttribute("data-sample"));
      const answer = await getJson("data", { run, unit: { kind: "attributions", method, target: "predicted" }, steps: "last" });
      const served = answer.attribution.deletion;
      assert.ok(served && served.curves.length >= 3, "the demo CNN logs deletion curves");
      assert.ok(served.curves.some((c) => c.method === "random"));
      const row = answer.result.sample.data.indexOf(sample);
      assert.ok(row >= 0);
      const shown = await shownAreas(card);
      checkAgainst(shown, served, row);
      assert.ok(shown[method].chosen, "the method shown is marked in the table");
      // One line per ranking under the maps.
      const lines = card.locator('.inn-chart path[aria-roledescription="line mark"]');
      assert.equal(await lines.count(), served.curves.length);
      assert.match(await card.locator(".inn-chart svg").textContent(), /deletion curves/);
      await page.screenshot({ path: join(screenshots, "faithfulness-deletion.png") });

      // Another method and another sample: the table follows, the model's areas stay.
      await card.locator(".inn-widget-control select").first().selectOption("lrp_epsilon");
      await page.waitForFunction((el) => el.querySelector('tr.inn-chosen[data-method="lrp_epsilon"]'), await card.elementHandle(), { timeout: TIMEOUT });
      const other = answer.result.sample.data.find((s) => s !== sample);
      await card.locator(".inn-widget-control select").nth(2).selectOption(String(other));
      await card.locator(`.inn-attribution-facts[data-sample="${other}"]`).waitFor({ timeout: TIMEOUT });
      await settled(page);
      assert.ok((await shownAreas(card)).lrp_epsilon.chosen);
      checkAgainst(await shownAreas(card), served, answer.result.sample.data.indexOf(other));
    } finally {
      await closePage(page);
    }
  });
});

function open(state, options) {
  return openPage(browser, url, state, options);
}
