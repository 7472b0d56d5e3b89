// The headless browser shared by the end-to-end tests and the frontend benchmark.
//
//   const browser = await launchBrowser();
//   const { page } = await openInnspector(browser, tensorboardUrl, { state: { level: "L3", ... } });
//   const count = await waitForPaint(page, "L3");
//   ...
//   await page.context().close();
//   await browser.close();
//
// The browser is Debian's `chromium` (/usr/bin/chromium) driven by playwright-core; no browser is
// ever downloaded. Every open* call makes a fresh browser context (own cache, own localStorage),
// so one page load never profits from another; close it with `page.context().close()`.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** The key under which the app saves its state (frontend/src/state.ts). */
export const STATE_KEY = "innspector-tb/state";
export const STATE_VERSION = 1;
export const PLUGIN = "innspector";
/** The iframe document TensorBoard serves for an ES-module plugin (tensorboard/backend/application.py). */
export const ENTRY_PATH = `/data/plugin_entry.html?name=${PLUGIN}`;
export const DEFAULT_PAINT_TIMEOUT = 30_000;

/** Launches headless Chromium (a fresh profile: `launch`, not a persistent context). */
export async function launchBrowser({ args = [] } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's package with 'apt-get install chromium' ` +
        "(the tests never download a browser)",
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
  });
}

function trimSlash(url) {
  return url.replace(/\/+$/, "");
}

/**
 * A state as the app saves it: the defaults of frontend/src/state.ts but no measure (the app's default is
 * "abnormal"; these tests choose one when they need it), overridden by `partial`.
 */
export function appState(partial = {}) {
  return {
    level: "L3",
    run: null,
    layer: null,
    openGroups: {},
    focus: null,
    classes: null,
    measure: null,
    localization: [],
    k: 20,
    ...partial,
  };
}

async function newPage(browser, url, { state, initScript, viewport, setup } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 800 } });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  if (setup) await setup(page);
  if (state !== undefined) {
    // localStorage belongs to an origin: open a small page of TensorBoard's first, seed it there.
    await page.goto(`${url}/data/plugins_listing`);
    await page.evaluate(
      ([key, value]) => window.localStorage.setItem(key, value),
      [STATE_KEY, JSON.stringify({ version: STATE_VERSION, state })],
    );
  }
  return page;
}

/**
 * Opens the plugin's own document (the one TensorBoard loads in its iframe) as a top-level page.
 *
 * Options: `state` (saved into localStorage before the app starts), `initScript` (a function or
 * {path|content} run in the page before any of its scripts, see BrowserContext.addInitScript),
 * `viewport` ({width, height}), `setup` (async (page) => ..., called before the first navigation,
 * e.g. to listen to "pageerror" or "console"). Returns `{ page }`; close with `page.context().close()`.
 */
export async function openInnspector(browser, tensorboardUrl, options = {}) {
  const url = trimSlash(tensorboardUrl);
  const page = await newPage(browser, url, options);
  await page.goto(`${url}${ENTRY_PATH}`);
  return { page };
}

/**
 * Opens TensorBoard's own UI on the iNNspector tab. Returns `{ page, frame }`, `frame` being the
 * plugin's iframe (TensorBoard renders module plugins in an <iframe> on `data/plugin_entry.html`).
 * Same options as openInnspector, plus `timeout` (ms) for the iframe to appear.
 */
export async function openTensorBoardTab(browser, tensorboardUrl, options = {}) {
  const url = trimSlash(tensorboardUrl);
  const page = await newPage(browser, url, options);
  await page.goto(`${url}/#${PLUGIN}`);
  const frame = await waitForPluginFrame(page, options.timeout ?? DEFAULT_PAINT_TIMEOUT);
  return { page, frame };
}

/** The plugin's iframe of a TensorBoard page, once it is attached and its document loaded. */
export async function waitForPluginFrame(page, timeout = DEFAULT_PAINT_TIMEOUT) {
  const deadline = Date.now() + timeout;
  const needle = `plugin_entry.html?name=${PLUGIN}`;
  for (;;) {
    const frame = page.frames().find((f) => f.url().includes(needle));
    if (frame) {
      await frame.waitForLoadState("load", { timeout: Math.max(1, deadline - Date.now()) });
      return frame;
    }
    if (Date.now() > deadline) {
      const urls = page.frames().map((f) => f.url());
      throw new Error(`no iNNspector iframe (${needle}) within ${timeout / 1000} s; frames: ${urls.join(", ")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Reads `data-innspector-painted` ("<level>:<count>") of a page or frame: {level, count} or null. */
export async function paintedState(pageOrFrame) {
  const value = await pageOrFrame.evaluate(() => document.documentElement.dataset.innspectorPainted ?? null);
  return parsePainted(value);
}

export function parsePainted(value) {
  if (typeof value !== "string") return null;
  const match = /^(L[123]):(\d+)$/.exec(value);
  return match ? { level: match[1], count: Number(match[2]) } : null;
}

/**
 * Waits until the app has painted `level` (its `data-innspector-painted` names the level with a
 * count above `after`) and returns that count. Fails with a clear message after `timeout` ms.
 */
export async function waitForPaint(pageOrFrame, level, { after = 0, timeout = DEFAULT_PAINT_TIMEOUT } = {}) {
  try {
    const handle = await pageOrFrame.waitForFunction(
      ([wanted, previous]) => {
        const value = document.documentElement.dataset.innspectorPainted;
        const match = typeof value === "string" ? /^(L[123]):(\d+)$/.exec(value) : null;
        return match && match[1] === wanted && Number(match[2]) > previous ? Number(match[2]) : false;
      },
      [level, after],
      { timeout, polling: 50 },
    );
    return await handle.jsonValue();
  } catch (error) {
    if (!/timeout/i.test(String(error?.message))) throw error;
    let seen = "unreadable";
    try {
      const value = await pageOrFrame.evaluate(() => document.documentElement.dataset.innspectorPainted ?? null);
      seen = JSON.stringify(value);
    } catch {
      // the page may be gone; the message below still says what was awaited
    }
    throw new Error(
      `no painted ${level} view within ${timeout / 1000} s` +
        (after ? ` (after paint ${after})` : "") +
        ` (data-innspector-painted = ${seen})`,
    );
  }
}
