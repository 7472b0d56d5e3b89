// What the browser tests share: the plugin's routes, a page at a saved state that fails on uncaught
// errors, and applying a tool to a unit.
import assert from "node:assert/strict";

import { appState, openInnspector } from "./browser.mjs";

export const TIMEOUT = 30_000;

/** GET (or, with a body, POST) a route of the plugin; anything but 200 fails. */
export async function getJson(url, route, body) {
  const init = body ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : undefined;
  const response = await fetch(`${url}/data/plugin/innspector/${route}`, init);
  assert.equal(response.status, 200, `${route}: HTTP ${response.status}`);
  return response.json();
}

/** The plugin page at a saved state; `options.setup` runs too. Close it with closePage(). */
export async function openPage(browser, url, state, options = {}) {
  const errors = [];
  const { page } = await openInnspector(browser, url, {
    state: appState(state),
    viewport: { width: 1500, height: 950 },
    ...options,
    setup: async (p) => {
      p.on("pageerror", (error) => errors.push(String(error.stack || error)));
      await options.setup?.(p);
    },
  });
  page.errors = errors;
  return page;
}

/** Closes a page, failing the test if it threw anything uncaught. */
export async function closePage(page) {
  assert.deepEqual(page.errors, [], `uncaught errors in the page:\n${page.errors.join("\n")}`);
  await page.context().close();
}

/** Waits until no widget is loading. */
export async function settled(page) {
  await page.waitForFunction(
    () => [...document.querySelectorAll(".inn-widget")].every((c) => c.dataset.state === "ready" || c.dataset.state === "error"),
    null,
    { timeout: TIMEOUT },
  );
}

/** Waits for one widget to be drawn, failing with its text if it shows an error. */
export async function waitReady(card) {
  await card.page().waitForFunction((el) => el.dataset.state === "ready" || el.dataset.state === "error", await card.elementHandle(), { timeout: TIMEOUT });
  assert.equal(await card.getAttribute("data-state"), "ready", `the widget failed: ${await card.textContent()}`);
}

/** Selects a tool, clicks a unit it applies to; returns the new widget's card once it is ready. */
export async function applyTool(page, tool, unit) {
  const before = await page.locator(".inn-widget").count();
  await page.click(`[data-tool="${tool}"]`);
  await page.waitForSelector(`[data-unit="${unit}"].inn-applicable`, { timeout: TIMEOUT });
  const box = await page.locator(`[data-unit="${unit}"]`).first().boundingBox();
  await page.mouse.click(box.x + Math.min(12, box.width / 2), box.y + Math.min(12, box.height / 2));
  await page.waitForFunction((n) => document.querySelectorAll(".inn-widget").length > n, before, { timeout: TIMEOUT });
  const card = page.locator(".inn-widget").nth(before);
  await waitReady(card);
  return card;
}

/** The tick labels of a chart's "X" or "Y" axis inside a container (Vega's SVG). */
export async function axisLabels(container, which) {
  return container.evaluate((el, prefix) => {
    const axis = [...el.querySelectorAll("g.role-axis")].find((g) => g.getAttribute("aria-label")?.startsWith(`${prefix}-axis`));
    return axis ? [...axis.querySelectorAll("g.role-axis-label text")].map((t) => t.textContent) : [];
  }, which);
}
