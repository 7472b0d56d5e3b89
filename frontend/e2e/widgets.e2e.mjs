// The toolbox and the widget panel end to end (issue 5): the paper's use cases walked by clicking,
// in headless Chromium on a real TensorBoard serving the demo logs.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, waitForPaint } from "./browser.mjs";
import { applyTool, axisLabels, closePage, getJson as pagesGetJson, openPage, TIMEOUT, waitReady } from "./pages.mjs";

const url = process.env.TENSORBOARD_URL;
const screenshots = process.env.SCREENSHOT_DIR || "test-output/screenshots";

let browser;
let tree;
let models;

const getJson = (route, body) => pagesGetJson(url, route, body);
const open = (state, options) => openPage(browser, url, state, options);
const close = closePage;
const apply = applyTool;

/** The texts of a chart's x- or y-axis labels (Vega's SVG). */
before(async () => {
  assert.ok(url, "set TENSORBOARD_URL to a running TensorBoard (tests/test_frontend_e2e.py does)");
  mkdirSync(screenshots, { recursive: true });
  browser = await launchBrowser();
  tree = await getJson("tree");
  models = (await getJson("models")).models;
});
after(async () => {
  await browser?.close();
});

describe("use case 1: comparing classifiers", () => {
  it("Performance Metrics on the classifier experiment shows every model's final metrics", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      const classifiers = tree.experiments.find((e) => e.runs.includes("cnn_skip"));
      // Units a tool cannot apply to are greyed out while it is active.
      await page.click("[data-tool='confusion-matrix']");
      await page.waitForSelector("[data-unit='model:vae_fixed'].inn-inapplicable");
      await page.click("[data-tool='confusion-matrix']"); // deselect
      const card = await apply(page, "performance-metrics", `experiment:${classifiers.id}`);
      const text = await card.textContent();
      for (const run of classifiers.runs) assert.ok(text.includes(run), `${run} missing from the widget`);
      assert.match(await card.locator(".inn-widget-unit").textContent(), /experiment/);
      assert.equal(await card.locator(".inn-chart svg").count(), 1);
      await page.screenshot({ path: join(screenshots, "widgets-performance.png") });
    } finally {
      await close(page);
    }
  });

  it("two models' loss curves merge into one chart in a group", async () => {
    const page = await open({});
    try {
      await waitForPaint(page, "L3");
      const first = await apply(page, "performance-metrics", "model:cnn_small");
      const second = await apply(page, "performance-metrics", "model:cnn_wide");
      await second.locator(".inn-widget-head").dragTo(first.locator(".inn-widget-head"));
      const group = page.locator(".inn-group-card");
      await group.waitFor({ timeout: TIMEOUT });
      assert.equal(await group.locator(".inn-widget").count(), 2);
      await group.locator(".inn-open-group").click();
      await page.waitForSelector("#inn-overlay .inn-overlay-cell svg", { timeout: TIMEOUT });
      assert.equal(await page.locator("#inn-overlay .inn-overlay-cell").count(), 2, "side by side");
      await page.check("#inn-merge");
      const merged = page.locator("#inn-overlay [data-merged='true']");
      await merged.locator("svg").waitFor({ timeout: TIMEOUT });
      const legend = await merged.textContent();
      assert.ok(legend.includes("cnn_small") && legend.includes("cnn_wide"), legend);
      await page.screenshot({ path: join(screenshots, "widgets-merged.png") });
    } finally {
      await close(page);
    }
  });

  it("a convolution kernel's histogram at two steps, on a common scale", async () => {
    const page = await open({ level: "L2", run: "cnn_small" });
    try {
      await waitForPaint(page, "L2");
      const last = await apply(page, "histogram", "var:conv_1/kernel");
      const first = await apply(page, "histogram", "var:conv_1/kernel");
      await first.locator(".inn-widget-control select").first().selectOption("0");
      await page.waitForFunction((el) => el.dataset.state === "ready" && /step 0(?!\d)/.test(el.querySelector(".inn-caption")?.textContent ?? ""), await first.elementHandle(), { timeout: TIMEOUT });
      await first.locator(".inn-widget-head").dragTo(last.locator(".inn-widget-head"));
      await page.locator(".inn-group-card .inn-open-group").click();
      await page.waitForSelector("#inn-overlay .inn-overlay-cell svg", { timeout: TIMEOUT });
      const cells = page.locator("#inn-overlay .inn-overlay-cell");
      await page.check("#inn-common-scale");
      await page.waitForFunction(() => document.querySelectorAll("#inn-overlay .inn-overlay-cell svg").length === 2, null, { timeout: TIMEOUT });
      const x = [await axisLabels(cells.nth(0), "X"), await axisLabels(cells.nth(1), "X")];
      const y = [await axisLabels(cells.nth(0), "Y"), await axisLabels(cells.nth(1), "Y")];
      assert.ok(x[0].length > 1 && y[0].length > 1, "no axis labels found");
      assert.deepEqual(x[0], x[1], "the common scale gives both histograms the same x axis");
      assert.deepEqual(y[0], y[1], "the common scale gives both histograms the same y axis");
      // Shared bins: the bars of both charts sit on the same x positions and widths.
      const bars = (cell) => cell.locator("svg").evaluate((svg) => [...svg.querySelectorAll("g.mark-rect path")].map((p) => p.getAttribute("d").split("h")[0].split(",")[0]).join("|"));
      assert.equal(await bars(cells.nth(0)), await bars(cells.nth(1)), "the histograms do not share their bins");
      await page.screenshot({ path: join(screenshots, "widgets-common-scale.png") });
    } finally {
      await close(page);
    }
  });
});

describe("use case 2: VAE latent spaces", () => {
  it("Feature Distribution of two VAEs' latent layer, side by side", async () => {
    const page = await open({ level: "L2", run: "vae_90_10" });
    try {
      let count = await waitForPaint(page, "L2");
      const first = await apply(page, "feature-distribution", "layer:z_mean");
      await page.evaluate(() => {
        const state = JSON.parse(localStorage.getItem("innspector-tb/state"));
        state.state.run = "vae_25_75";
        localStorage.setItem("innspector-tb/state", JSON.stringify(state));
      });
      await page.reload();
      count = await waitForPaint(page, "L2");
      assert.equal(await page.locator(".inn-widget").count(), 1, "the workspace survives a reload");
      const second = await apply(page, "feature-distribution", "layer:z_mean");
      assert.match(await second.locator(".inn-widget-unit").textContent(), /vae_25_75/);
      await second.locator(".inn-widget-head").dragTo(page.locator(".inn-widget").first().locator(".inn-widget-head"));
      await page.locator(".inn-group-card .inn-open-group").click();
      await page.waitForFunction(() => document.querySelectorAll("#inn-overlay .inn-overlay-cell svg").length === 2, null, { timeout: TIMEOUT });
      const titles = await page.locator("#inn-overlay .inn-overlay-cell").allTextContents();
      assert.ok(titles[0].includes("vae_90_10") && titles[1].includes("vae_25_75"), titles.join(" | "));
      await page.screenshot({ path: join(screenshots, "widgets-vae-latents.png") });
      assert.ok(first);
    } finally {
      await close(page);
    }
  });

  it("the class selector changes a class-dependent widget's data", async () => {
    const page = await open({ level: "L2", run: "vae_fixed" });
    try {
      await waitForPaint(page, "L2");
      const card = await apply(page, "feature-distribution", "layer:z_mean");
      assert.equal(await card.locator(".inn-no-classes").count(), 0, "it follows the class selection");
      const before = await card.locator(".inn-caption").textContent();
      const paths = () => card.locator(".inn-chart svg").evaluate((svg) => [...svg.querySelectorAll("path")].map((p) => p.getAttribute("d")).join("|"));
      const shape = await paths();
      for (const c of ["1", "2", "3", "4", "5", "6", "7", "8", "9"]) await page.click(`#inn-classes [data-class='${c}']`);
      await page.waitForFunction((el) => el.dataset.state === "ready" && /\b0\b/.test(el.querySelector(".inn-caption")?.textContent ?? "") , await card.elementHandle(), { timeout: TIMEOUT });
      const after = await card.locator(".inn-caption").textContent();
      assert.notEqual(after, before);
      assert.notEqual(await paths(), shape, "the densities did not change with the classes");
    } finally {
      await close(page);
    }
  });

  it("hovering a sample in one widget highlights it in another, across models", async () => {
    const page = await open({ level: "L2", run: "cnn_small" });
    try {
      await waitForPaint(page, "L2");
      const one = await apply(page, "projection", "layer:dense_hidden");
      await page.evaluate(() => {
        const state = JSON.parse(localStorage.getItem("innspector-tb/state"));
        state.state.run = "cnn_skip";
        localStorage.setItem("innspector-tb/state", JSON.stringify(state));
      });
      await page.reload();
      await waitForPaint(page, "L2");
      const two = await apply(page, "projection", "layer:dense_hidden");
      const cards = page.locator(".inn-widget");
      await waitReady(cards.nth(0));
      const point = cards.nth(0).locator(".inn-chart g.mark-symbol path").first();
      await point.hover({ force: true });
      await page.waitForFunction(() => document.querySelectorAll(".inn-chart[data-highlight]").length >= 2, null, { timeout: TIMEOUT });
      const marks = await page.$$eval(".inn-chart[data-highlight]", (els) => els.map((e) => e.getAttribute("data-highlight")));
      assert.equal(new Set(marks).size, 1, `different samples highlighted: ${marks}`);
      assert.ok(one && two);
    } finally {
      await close(page);
    }
  });
});

describe("linking", () => {
  it("hovering a unit outlines its widgets, hovering a widget outlines its unit", async () => {
    const page = await open({ level: "L2", run: "cnn_skip" });
    try {
      await waitForPaint(page, "L2");
      const card = await apply(page, "statistics", "var:conv_2/kernel");
      await page.mouse.move(5, 5); // away from the unit the click left the pointer on
      await page.hover("[data-unit='var:conv_2/kernel']", { force: true });
      await page.waitForFunction((el) => el.classList.contains("inn-linked"), await card.elementHandle());
      await page.hover("[data-unit='layer:pool'] .inn-layer-box");
      await page.waitForFunction((el) => !el.classList.contains("inn-linked"), await card.elementHandle());
      await card.locator(".inn-widget-head").hover();
      await page.waitForSelector("[data-unit='var:conv_2/kernel'].inn-linked");
      // The widget's "show" button leads back to its unit from another level.
      await page.click("#inn-crumbs [data-level='L3']");
      await waitForPaint(page, "L3");
      await card.locator(".inn-jump").click();
      await waitForPaint(page, "L2");
      assert.equal(await page.locator("#inn-stage [data-layer='conv_2'].inn-focus").count(), 1);
    } finally {
      await close(page);
    }
  });

  it("a note is saved with the workspace", async () => {
    const page = await open({ level: "L3" });
    try {
      await waitForPaint(page, "L3");
      const card = await apply(page, "note", "model:vae_careless");
      await card.locator("textarea").fill("# Careless\nReLU on **z_mean**: see the lint.");
      await card.locator("textarea").blur();
      await page.waitForFunction(() => /Careless/.test(localStorage.getItem("innspector-tb/workspace") ?? ""));
      await page.reload();
      await waitForPaint(page, "L3");
      const restored = page.locator(".inn-widget[data-tool='note']");
      await waitReady(restored);
      assert.match(await restored.locator("textarea").inputValue(), /ReLU on \*\*z_mean\*\*/);
      assert.equal(await restored.locator("strong").first().textContent(), "z_mean");
    } finally {
      await close(page);
    }
  });
});

describe("JSON tools and the workspace", () => {
  it("a JSON-declared tool creates its widget", async () => {
    const page = await open({ level: "L2", run: "cnn_skip" });
    try {
      await waitForPaint(page, "L2");
      const card = await apply(page, "json:sorted-weight-magnitudes", "var:dense_hidden/kernel");
      assert.equal(await card.locator(".inn-chart svg").count(), 1);
      assert.match(await card.locator(".inn-caption").textContent(), /500 rows/);
    } finally {
      await close(page);
    }
  });

  it("exports the workspace and its widgets' data, and refuses a broken import", async () => {
    const page = await open({ level: "L3" });
    try {
      await waitForPaint(page, "L3");
      const card = await apply(page, "model-save-size", "model:cnn_skip");
      const [csv] = await Promise.all([page.waitForEvent("download"), card.locator("[data-download='csv']").click()]);
      assert.match(csv.suggestedFilename(), /\.csv$/);
      const [png] = await Promise.all([page.waitForEvent("download"), card.locator("[data-download='png']").click()]);
      assert.match(png.suggestedFilename(), /\.png$/);
      const [file] = await Promise.all([page.waitForEvent("download"), page.click("#inn-export")]);
      const path = join(tmpdir(), `workspace-${process.pid}.json`);
      await file.saveAs(path);
      const broken = join(tmpdir(), `broken-${process.pid}.json`);
      writeFileSync(broken, '{"format": "innspector-workspace", "version": 1, "workspace": {"widgets": [{"id": 3}], "groups": []}}');
      await page.setInputFiles("#inn-import", broken);
      await page.waitForFunction(() => /Could not import/.test(document.querySelector("#inn-workspace-status")?.textContent ?? ""));
      assert.equal(await page.locator(".inn-widget").count(), 1, "a broken import changes nothing");
      await page.click("#inn-clear");
      assert.equal(await page.locator(".inn-widget").count(), 0);
      await page.setInputFiles("#inn-import", path);
      await page.waitForSelector(".inn-widget[data-tool='model-save-size'][data-state='ready']", { timeout: TIMEOUT });
    } finally {
      await close(page);
    }
  });
});
