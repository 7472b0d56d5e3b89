// The inspection panel end to end (issue 4): the three levels, navigation, overlays and lint,
// in headless Chromium on a real TensorBoard serving the demo logs.
//
//   TENSORBOARD_URL=http://127.0.0.1:6006 SCREENSHOT_DIR=test-output/screenshots \
//     node --test --test-reporter=spec frontend/e2e/inspection.e2e.mjs
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { appState, launchBrowser, openTensorBoardTab, paintedState, waitForPaint } from "./browser.mjs";
import { closePage, getJson as pagesGetJson, openPage } from "./pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";

let browser;
let models;
let tree;

const getJson = (route) => pagesGetJson(url, route);
const open = (state, options = {}) => openPage(browser, url, state, { viewport: { width: 1400, height: 900 }, ...options });
const close = closePage;

async function painted(page) {
  return (await paintedState(page))?.count ?? 0;
}

before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
  models = (await getJson("models")).models;
  tree = await getJson("tree");
});
after(async () => {
  await browser?.close();
});

describe("L3, the tree of models", () => {
  it("shows every model, its lineage edges and experiments, inside TensorBoard's tab", async () => {
    const { page, frame } = await openTensorBoardTab(browser, url, { state: appState() });
    try {
      await waitForPaint(frame, "L3");
      const runs = await frame.$$eval("[data-unit^='model:']", (els) => els.map((e) => e.getAttribute("data-run")).sort());
      assert.deepEqual(runs, models.map((m) => m.run).sort());
      const edges = await frame.$$eval(".inn-lineage[data-edge]", (els) => els.map((e) => e.getAttribute("data-edge")).sort());
      const byId = new Map(models.map((m) => [m.id, m.run]));
      assert.deepEqual(edges, tree.edges.map((e) => `${byId.get(e.from)}>${byId.get(e.to)}`).sort());
      assert.equal(await frame.locator(".inn-experiment").count(), tree.experiments.length);
      // Edge widths follow the relative change of trainable parameters.
      const widths = await frame.$$eval(".inn-lineage-line", (els) => els.map((e) => Number(e.getAttribute("stroke-width"))));
      assert.ok(new Set(widths).size > 1, `all lineage edges have the same width: ${widths}`);
      await page.screenshot({ path: join(screenshots, "L3-in-tensorboard.png") });
    } finally {
      await page.context().close();
    }
  });

  it("colours models by an interestingness measure, with a legend", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      const fills = () => page.$$eval("[data-unit^='model:'] .inn-model-box", (els) => els.map((e) => e.getAttribute("fill")));
      const before = await fills();
      assert.ok(before.every((f) => f === "#ffffff"), `models coloured before a measure is chosen: ${before}`);
      await page.selectOption("#inn-measure", "variance");
      await page.waitForSelector("#inn-legend");
      await page.waitForFunction(() => document.querySelector(".inn-app")?.dataset.measure === "variance");
      const after = await fills();
      assert.ok(after.every((f) => /^#[0-9a-f]{6}$/.test(f) && f !== "#ffffff"), `not every model recoloured: ${after}`);
      assert.ok(new Set(after).size > 2, `the measure gives too few colours: ${after}`);
      await page.screenshot({ path: join(screenshots, "L3-interestingness.png") });
    } finally {
      await close(page);
    }
  });

  it("colours models, then layers, by the heavy-tail α of their kernels; a kernel without α is grey", async () => {
    const page = await open({});
    try {
      let count = await waitForPaint(page, "L3");
      await page.selectOption("#inn-measure", "heavy_tail_alpha");
      await page.waitForFunction(() => document.querySelector(".inn-app")?.dataset.measure === "heavy_tail_alpha");
      const answer = await getJson("interestingness?measure=heavy_tail_alpha");
      const shown = await page.$$eval("[data-unit^='model:']", (els) =>
        Object.fromEntries(els.map((e) => [e.getAttribute("data-run"), e.querySelector("[data-score]")?.getAttribute("data-score")])),
      );
      // a model none of whose kernels has enough eigenvalues for a fit has no score, drawn as "none"
      for (const model of answer.models) assert.equal(shown[model.run], model.score === null ? "none" : model.score.toFixed(3), model.run);
      const top = [...answer.models].filter((m) => m.score !== null).sort((a, b) => b.score - a.score)[0];
      const first = await page.locator(".inn-toplist li").first().textContent();
      assert.ok(first.startsWith(`${top.run} (`), `top of the list ${first}, served ${top.run}`);
      // L2 of cnn_wide: its first convolution (9 eigenvalues) has no α and is grey; its Dense layers have one.
      await page.dblclick("[data-unit='model:cnn_wide'] .inn-model-box");
      count = await waitForPaint(page, "L2", { after: count });
      await page.waitForFunction(() => document.querySelector("#inn-stage [data-layer='conv_1'] [data-score]"));
      const layerScore = (layer) => page.getAttribute(`#inn-stage [data-layer='${layer}'] [data-score]`, "data-score");
      assert.equal(await layerScore("conv_1"), "none");
      const served = new Map(answer.layers.filter((l) => l.run === "cnn_wide").map((l) => [l.layer, l.score]));
      for (const layer of ["conv_2", "dense_hidden", "classifier"]) assert.equal(await layerScore(layer), served.get(layer).toFixed(3), layer);
      await page.screenshot({ path: join(screenshots, "L2-heavy-tail-alpha.png") });
    } finally {
      await close(page);
    }
  });

  it("puts localization badges on the models with a skip connection", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      await page.click("[data-localize='structure:skip_connection']");
      await page.waitForSelector("[data-badge-for='model:cnn_skip']");
      const badged = await page.$$eval(".inn-badge", (els) => els.map((e) => e.getAttribute("data-badge-for")));
      assert.ok(badged.includes("model:cnn_skip"));
      assert.ok(!badged.includes("model:cnn_small"), `cnn_small has no skip connection: ${badged}`);
    } finally {
      await close(page);
    }
  });
});

describe("descending and ascending", () => {
  it("double-click a model, then a dense layer; breadcrumbs lead back; state survives a reload", async () => {
    const page = await open({});
    try {
      let count = await waitForPaint(page, "L3");
      await page.screenshot({ path: join(screenshots, "L3.png") });

      // L3 -> L2: the model's layers, each holding its inner operations.
      await page.dblclick("[data-unit='model:cnn_skip'] .inn-model-box");
      count = await waitForPaint(page, "L2", { after: count });
      const graph = (await getJson("graph?run=cnn_skip")).architecture;
      const layers = await page.$$eval("#inn-stage [data-layer]", (els) => els.map((e) => e.getAttribute("data-layer")).sort());
      assert.deepEqual(layers, graph.layers.map((l) => l.id).sort());
      const convOps = await page.$$eval("#inn-stage [data-layer='conv_1'] [data-op]", (els) => els.map((e) => e.getAttribute("data-op")));
      assert.deepEqual(convOps, ["conv", "bias_add", "activation"]);
      const variables = await page.$$eval("#inn-stage [data-layer='dense_hidden'] .inn-variable", (els) => els.map((e) => e.getAttribute("data-unit")).sort());
      assert.deepEqual(variables, ["var:dense_hidden/bias", "var:dense_hidden/kernel"]);
      assert.equal(await page.locator(".inn-flow").count(), graph.edges.length);
      await page.screenshot({ path: join(screenshots, "L2.png") });

      // L2 -> L1: the neurons of the dense layer and its predecessor, and the Neurons x Classes matrix.
      await page.dblclick("#inn-stage [data-layer='dense_hidden'] .inn-layer-box");
      count = await waitForPaint(page, "L1", { after: count });
      const neurons = await getJson("neurons?run=cnn_skip&layer=dense_hidden");
      const drawn = await page.$$eval("[data-unit^='neuron:']", (els) => els.map((e) => e.getAttribute("data-unit")));
      assert.equal(drawn.length, neurons.layer.neurons.length + neurons.previous.neurons.length);
      assert.ok(drawn.includes(`neuron:dense_hidden:${neurons.layer.neurons[0].index}`));
      assert.equal(await page.locator("table.inn-matrix tbody tr").count(), neurons.layer.units);
      await page.screenshot({ path: join(screenshots, "L1.png") });

      // Sorting the matrix by a class puts that class's most active neuron first.
      const column = neurons.neurons_by_classes.classes.indexOf("7");
      const values = neurons.neurons_by_classes.matrix[column];
      const best = values.indexOf(Math.max(...values.filter((v) => v !== null)));
      await page.click("table.inn-matrix th[data-class='7']");
      const first = await page.$eval("table.inn-matrix tbody tr", (row) => row.textContent);
      assert.match(first, new RegExp(`#${best}\\b`));

      // The page reloads where it was.
      await page.reload();
      count = await waitForPaint(page, "L1");
      assert.match(await page.textContent("#inn-crumbs"), /dense_hidden/);

      // Breadcrumbs: back to L2, then to L3.
      await page.click("#inn-crumbs [data-level='L2']");
      count = await waitForPaint(page, "L2", { after: count });
      assert.equal(await page.locator("#inn-stage [data-layer='dense_hidden'].inn-focus").count(), 1, "L2 focuses the layer we came from");
      await page.click("#inn-crumbs [data-level='L3']");
      await waitForPaint(page, "L3", { after: count });
      assert.equal(await page.locator("[data-unit='model:cnn_skip'].inn-focus").count(), 1);
    } finally {
      await close(page);
    }
  });

  it("a nested model is a namespace that opens and closes", async () => {
    const page = await open({ level: "L2", run: "cnn_nested" });
    try {
      let count = await waitForPaint(page, "L2");
      const group = page.locator("[data-unit='group:features']");
      assert.equal(await group.count(), 1);
      assert.equal(await page.locator("#inn-stage [data-layer='features/conv_1']").count(), 0, "a closed namespace hides its layers");
      assert.match(await group.textContent(), /nested model · 3 layers/);
      await group.locator(".inn-group-box").dblclick();
      count = await waitForPaint(page, "L2", { after: count });
      assert.equal(await page.locator("[data-unit='group:features'].inn-open [data-layer]").count(), 0, "layers are drawn above groups");
      assert.equal(await page.locator("#inn-stage [data-layer='features/conv_1'] [data-op='conv']").count(), 1);
      await page.click("[data-unit='group:features'] .inn-toggle");
      await waitForPaint(page, "L2", { after: count });
      assert.equal(await page.locator("#inn-stage [data-layer='features/conv_1']").count(), 0);
    } finally {
      await close(page);
    }
  });

  it("the class selector drives the L1 view", async () => {
    const page = await open({ level: "L1", run: "dense_baseline", layer: "dense_hidden" });
    try {
      let count = await waitForPaint(page, "L1");
      const share = () => page.$$eval("[data-unit^='neuron:dense_hidden:']", (els) => els.map((e) => e.textContent).join("|"));
      const before = await share();
      await page.click("#inn-classes [data-class='0']"); // deselects class 0
      count = await waitForPaint(page, "L1", { after: count });
      assert.equal(await page.getAttribute("#inn-classes [data-class='0']", "aria-pressed"), "false");
      assert.notEqual(await share(), before, "the neurons did not change with the class selection");
    } finally {
      await close(page);
    }
  });

  it("the k slider sets how many weights are drawn", async () => {
    const page = await open({ level: "L1", run: "dense_baseline", layer: "dense_hidden", k: 5 });
    try {
      let count = await waitForPaint(page, "L1");
      const edges = () => page.locator(".inn-l1-edge").count();
      assert.equal(await edges(), 5);
      await page.fill("#inn-k", "12");
      await page.dispatchEvent("#inn-k", "change");
      count = await waitForPaint(page, "L1", { after: count });
      assert.equal(await edges(), 12);
    } finally {
      await close(page);
    }
  });
});

describe("lint, pan and zoom, errors", () => {
  it("a lint finding jumps to the careless VAE's z_mean layer", async () => {
    const page = await open({});
    try {
      const count = await waitForPaint(page, "L3");
      const finding = page.locator("ul.inn-lint li[data-run='vae_careless'][data-layer='z_mean'][data-rule='relu-on-distribution-parameter']");
      await finding.waitFor();
      await finding.locator("button").click();
      await waitForPaint(page, "L2", { after: count });
      assert.match(await page.textContent("#inn-crumbs"), /vae_careless/);
      const focused = page.locator("#inn-stage [data-layer='z_mean'].inn-focus");
      assert.equal(await focused.count(), 1);
      // Centred: the focused layer is inside the visible stage.
      const stage = await page.locator("#inn-stage").boundingBox();
      const box = await focused.boundingBox();
      const cx = box.x + box.width / 2;
      const cy = box.y + box.height / 2;
      assert.ok(cx > stage.x && cx < stage.x + stage.width && cy > stage.y && cy < stage.y + stage.height);
      await page.screenshot({ path: join(screenshots, "L2-lint-jump.png") });
    } finally {
      await close(page);
    }
  });

  it("wheel zooms around the pointer, a drag pans, the minimap centres", async () => {
    const page = await open({ level: "L2", run: "cnn_skip" });
    try {
      await waitForPaint(page, "L2");
      const transform = () => page.$eval(".inn-canvas", (e) => e.style.transform);
      const start = await transform();
      const stage = await page.locator("#inn-stage").boundingBox();
      await page.mouse.move(stage.x + stage.width / 2, stage.y + stage.height / 2);
      await page.mouse.wheel(0, -300);
      await page.waitForFunction((t) => document.querySelector(".inn-canvas").style.transform !== t, start);
      const zoomed = await transform();
      const scale = (t) => Number(/scale\(([^)]+)\)/.exec(t)[1]);
      assert.ok(scale(zoomed) > scale(start), `${zoomed} is not zoomed in from ${start}`);
      await page.mouse.down();
      await page.mouse.move(stage.x + stage.width / 2 + 120, stage.y + stage.height / 2 + 40, { steps: 5 });
      await page.mouse.up();
      await page.waitForFunction((t) => document.querySelector(".inn-canvas").style.transform !== t, zoomed);
      const panned = await transform();
      assert.equal(scale(panned), scale(zoomed));
      const minimap = await page.locator("#inn-minimap").boundingBox();
      await page.mouse.click(minimap.x + 5, minimap.y + 5);
      await page.waitForFunction((t) => document.querySelector(".inn-canvas").style.transform !== t, panned);
    } finally {
      await close(page);
    }
  });

  it("a layout worker that cannot load is an error in place, not an endless spinner", async () => {
    const page = await open(
      { level: "L2", run: "cnn_skip" },
      { setup: (p) => p.route("**/elk-worker.js", (route) => route.fulfill({ status: 404, body: "gone" })) },
    );
    try {
      await page.waitForFunction(() => /error/.test(document.documentElement.dataset.innspectorPainted ?? ""));
      assert.match(await page.textContent("#inn-message"), /layout worker .*elk-worker\.js could not run/);
    } finally {
      await close(page);
    }
  });

  it("a backend error shows as a readable message, not a blank panel", async () => {
    const page = await open({ level: "L1", run: "cnn_skip", layer: "no_such_layer" });
    try {
      await page.waitForFunction(() => /error/.test(document.documentElement.dataset.innspectorPainted ?? ""));
      const message = await page.textContent("#inn-message");
      assert.match(message, /no_such_layer/);
      assert.match(message, /HTTP 404/);
      assert.equal(await page.locator("#inn-message .inn-retry").count(), 1);
      // The breadcrumbs still lead out of the error.
      await page.click("#inn-crumbs [data-level='L2']");
      await waitForPaint(page, "L2");
    } finally {
      await close(page);
    }
  });
});
