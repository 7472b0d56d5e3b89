// The browser half of bench/frontend.py: how fast the iNNspector tab paints and pans in headless
// Chromium, against a running TensorBoard.
//
//   node frontend/e2e/bench.mjs URL [--l2 RUN]... [--l3] [--fps RUN]... [--loads 5]
//        [--fps-seconds 2] [--timeout 30]
//
// For each scenario (--l2 RUN: the L2 view of one model; --l3: the L3 view of every model) it
// makes `--loads` page loads, each in a fresh browser context (empty cache and storage), with
// the app's saved state seeded so the first view is the one measured. The time of a load runs
// from navigation start (performance.timeOrigin of the plugin's document) to the moment the app
// marks the view painted (data-innspector-painted = "<level>:<count>", set once the view is
// drawn and a frame has passed), read in the page by a MutationObserver installed before any
// script of the page runs. After each cold load the page is reloaded once in the same context:
// the "warm" time (HTTP cache and saved state in place).
//
// --fps RUN: on the painted L2 view of RUN, counts requestAnimationFrame callbacks for
// --fps-seconds while a script pans and zooms the stage (.inn-stage) at 60 Hz: wheel events
// alternating zoom in and out around a moving pointer, then mouse drags. Two input paths:
// "synthetic" (WheelEvent / PointerEvent / MouseEvent dispatched by a script in the page, as the
// issue describes) and "trusted" (the same sequence as real input through Chromium's input
// pipeline, with playwright's page.mouse). Also measured: the idle frame rate of the page (the
// ceiling of headless Chromium on this machine).
//
// Prints one JSON document to stdout (progress goes to stderr). Failures (e.g. a view that is
// never painted) are reported in the JSON, not thrown, so the other scenarios still run.
import { parseArgs } from "node:util";

import { appState, launchBrowser, openInnspector, waitForPaint } from "./browser.mjs";

const PAINT_ATTRIBUTE = "data-innspector-painted";

function log(message) {
  process.stderr.write(`${message}\n`);
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs in the page before its own scripts: records when each level is first painted. */
function paintRecorder(attribute) {
  const record = { first: {}, events: [] };
  window.__innspectorBench = record;
  const note = () => {
    const value = document.documentElement?.getAttribute(attribute);
    if (value == null || record.events.at(-1)?.value === value) return;
    const now = performance.now();
    record.events.push({ value, t: now });
    const level = value.split(":")[0];
    if (!(level in record.first)) record.first[level] = now;
  };
  new MutationObserver(note).observe(document, { attributes: true, attributeFilter: [attribute], subtree: true });
  note();
}

/** What the page knows about its own load: resource timings of the plugin's module and routes. */
function loadFacts() {
  const resources = performance.getEntriesByType("resource");
  const plugin = resources.filter((r) => r.name.includes("/data/plugin/innspector/"));
  const module = plugin.find((r) => new URL(r.name).pathname.endsWith("/index.js"));
  const routes = plugin.filter((r) => !/\.(js|css)$/.test(new URL(r.name).pathname));
  return {
    module_loaded_ms: module ? module.responseEnd : null,
    module_bytes: module ? module.encodedBodySize || module.transferSize : null,
    requests: routes.length,
    last_route_response_ms: routes.length ? Math.max(...routes.map((r) => r.responseEnd)) : null,
    route_bytes: routes.reduce((sum, r) => sum + (r.encodedBodySize || 0), 0),
  };
}

async function paintedAt(page, level) {
  return page.evaluate((wanted) => window.__innspectorBench?.first?.[wanted] ?? null, level);
}

async function measureLoad(browser, url, scenario, timeoutMs) {
  const { page } = await openInnspector(browser, url, {
    state: scenario.state,
    initScript: { content: `(${paintRecorder})(${JSON.stringify(PAINT_ATTRIBUTE)});` },
  });
  try {
    await waitForPaint(page, scenario.level, { timeout: timeoutMs });
    const cold = await paintedAt(page, scenario.level);
    const facts = await page.evaluate(loadFacts);
    await page.reload();
    await waitForPaint(page, scenario.level, { timeout: timeoutMs });
    const warm = await paintedAt(page, scenario.level);
    return { cold, warm, facts };
  } finally {
    await page.context().close();
  }
}

async function runScenario(browser, url, scenario, loads, timeoutMs) {
  const { name, level, run } = scenario;
  const result = { name, level, run, cold_ms: [], warm_ms: [], error: null };
  for (let i = 0; i < loads; i++) {
    try {
      const { cold, warm, facts } = await measureLoad(browser, url, scenario, timeoutMs);
      result.cold_ms.push(cold);
      result.warm_ms.push(warm);
      result.facts = facts; // of the last load
      log(`  ${scenario.name}: load ${i + 1}/${loads}: ${cold.toFixed(0)} ms cold, ${warm.toFixed(0)} ms warm`);
    } catch (error) {
      result.error = String(error?.message ?? error).split("\n")[0];
      log(`  ${scenario.name}: load ${i + 1}/${loads} failed: ${result.error}`);
      break; // the next loads would fail alike; the other scenarios still run
    }
  }
  result.median_cold_ms = median(result.cold_ms);
  result.median_warm_ms = median(result.warm_ms);
  result.first_cold_ms = result.cold_ms[0] ?? null;
  return result;
}

// ------------------------------------------------------------------ frames per second

/** The input sequence: tick i of the 60 Hz script -> an action at a point relative to the stage centre. */
function inputScript(i) {
  const TICKS_PER_PHASE = 30; // half a second of zooming, then half a second of dragging
  const phase = Math.floor(i / TICKS_PER_PHASE) % 2;
  const j = i % TICKS_PER_PHASE;
  const angle = (i / 60) * 2 * Math.PI;
  if (phase === 0) {
    // zoom in for 5 ticks, out for 5, around a pointer drifting on a small circle
    const deltaY = Math.floor(j / 5) % 2 ? 100 : -100;
    return { kind: "wheel", dx: 80 * Math.cos(angle), dy: 60 * Math.sin(angle), deltaY };
  }
  const kind = j === 0 ? "down" : j === TICKS_PER_PHASE - 1 ? "up" : "move";
  return { kind, dx: 120 * Math.cos(angle) - 60, dy: 80 * Math.sin(angle) };
}

/** In the page: counts animation frames (and DOM changes of the stage) for `seconds`, replaying `steps`. */
function frameCounter({ seconds, steps }) {
  const stage = document.querySelector(".inn-stage");
  if (!stage) return Promise.reject(new Error("no .inn-stage element in the painted view"));
  let mutations = 0;
  const observer = new MutationObserver((records) => (mutations += records.length));
  observer.observe(stage, { attributes: true, childList: true, subtree: true, characterData: true });
  const rect = stage.getBoundingClientRect();
  const cx = rect.left + rect.width / 2;
  const cy = rect.top + rect.height / 2;
  const intervals = [];
  let timer = null;
  let i = 0;
  let buttons = 0;
  let last = { clientX: cx, clientY: cy };
  const pointer = (type, base) =>
    new PointerEvent(type, { ...base, pointerId: 1, pointerType: "mouse", isPrimary: true, buttons,
                             button: type === "pointermove" ? -1 : 0 });
  const dispatch = (kind, base) => {
    const target = document.elementFromPoint(base.clientX, base.clientY) ?? stage;
    if (kind === "wheel") {
      target.dispatchEvent(new WheelEvent("wheel", { ...base, deltaY: base.deltaY, deltaMode: 0 }));
      return;
    }
    if (kind === "down") buttons = 1;
    if (kind === "up") buttons = 0;
    const type = { down: "down", move: "move", up: "up" }[kind];
    target.dispatchEvent(pointer(`pointer${type}`, base));
    target.dispatchEvent(new MouseEvent(`mouse${type}`, { ...base, button: 0, buttons }));
  };
  const fire = () => {
    const step = steps[i++ % steps.length];
    last = { bubbles: true, cancelable: true, composed: true, view: window,
             clientX: cx + step.dx, clientY: cy + step.dy, deltaY: step.deltaY };
    dispatch(step.kind, last);
  };
  return new Promise((resolve) => {
    requestAnimationFrame((start) => {
      let previous = start;
      if (steps.length) timer = setInterval(fire, 1000 / 60);
      const frame = (now) => {
        intervals.push(now - previous);
        previous = now;
        if (now - start < seconds * 1000) {
          requestAnimationFrame(frame);
          return;
        }
        if (timer !== null) clearInterval(timer);
        if (buttons) dispatch("up", last); // never leave a drag open
        observer.disconnect();
        const sorted = [...intervals].sort((a, b) => a - b);
        resolve({
          frames: intervals.length,
          seconds: (now - start) / 1000,
          fps: intervals.length / ((now - start) / 1000),
          longest_frame_ms: sorted.at(-1) ?? null,
          p95_frame_ms: sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] : null,
          inputs: i,
          inputs_per_s: i / ((now - start) / 1000),
          stage_mutations: mutations,
        });
      };
      requestAnimationFrame(frame);
    });
  });
}

/**
 * Sends the same sequence as real input (CDP Input events through Chromium's input pipeline) at up
 * to 60 Hz. Chromium acknowledges each event once the renderer has taken it (often a frame later),
 * so events are pipelined, at most MAX_IN_FLIGHT unacknowledged; the achieved rate is reported.
 */
async function trustedInput(page, seconds, until) {
  const box = await page.locator(".inn-stage").first().boundingBox();
  if (!box) throw new Error(".inn-stage has no box");
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const MAX_IN_FLIGHT = 4;
  const inFlight = new Set();
  const send = async (promise) => {
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise));
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
  };
  const start = Date.now();
  let i = 0;
  let down = false;
  while (Date.now() - start < seconds * 1000 && !until.done) {
    const step = inputScript(i);
    if (step.kind !== "wheel" || i % 5 === 0) await send(page.mouse.move(cx + step.dx, cy + step.dy));
    if (step.kind === "wheel") await send(page.mouse.wheel(0, step.deltaY));
    else if (step.kind === "down" && !down) (await send(page.mouse.down()), (down = true));
    else if (step.kind === "up" && down) (await send(page.mouse.up()), (down = false));
    i++;
    const wait = start + (i * 1000) / 60 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(inFlight);
  if (down) await page.mouse.up();
  return { inputs: i, inputs_per_s: i / ((Date.now() - start) / 1000) };
}

async function measureFps(browser, url, run, seconds, timeoutMs) {
  const result = { name: `pan/zoom L2 ${run}`, run, idle: null, synthetic: null, trusted: null, error: null };
  const { page } = await openInnspector(browser, url, { state: appState({ level: "L2", run }) });
  try {
    await waitForPaint(page, "L2", { timeout: timeoutMs });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const steps = Array.from({ length: Math.ceil(seconds * 60) + 60 }, (_, i) => inputScript(i));
    result.idle = await page.evaluate(frameCounter, { seconds: 1, steps: [] });
    result.synthetic = await page.evaluate(frameCounter, { seconds, steps });
    const until = { done: false };
    const counting = page.evaluate(frameCounter, { seconds, steps: [] });
    const sent = trustedInput(page, seconds, until);
    result.trusted = await counting;
    until.done = true;
    Object.assign(result.trusted, await sent);
    for (const kind of ["idle", "synthetic", "trusted"]) {
      const r = result[kind];
      log(`  ${result.name}: ${kind}: ${r.fps.toFixed(1)} frames/s, longest frame ${r.longest_frame_ms.toFixed(1)} ms`);
    }
  } catch (error) {
    result.error = String(error?.message ?? error).split("\n")[0];
    log(`  ${result.name} failed: ${result.error}`);
  } finally {
    await page.context().close();
  }
  return result;
}

// ------------------------------------------------------------------ main

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    l2: { type: "string", multiple: true, default: [] },
    l3: { type: "boolean", default: false },
    fps: { type: "string", multiple: true, default: [] },
    loads: { type: "string", default: "5" },
    "fps-seconds": { type: "string", default: "2" },
    timeout: { type: "string", default: "30" },
  },
});
if (positionals.length !== 1) {
  process.stderr.write("usage: node bench.mjs TENSORBOARD_URL [--l2 RUN]... [--l3] [--fps RUN]... [--loads N]\n");
  process.exit(2);
}
const url = positionals[0].replace(/\/+$/, "");
const loads = Number(values.loads);
const timeoutMs = Number(values.timeout) * 1000;
const scenarios = [
  ...values.l2.map((run) => ({ name: `L2 ${run}`, level: "L2", run, state: appState({ level: "L2", run }) })),
  ...(values.l3 ? [{ name: "L3 all models", level: "L3", run: null, state: appState({ level: "L3" }) }] : []),
];

const browser = await launchBrowser();
const output = { url, chromium: browser.version(), loads, scenarios: [], fps: [] };
try {
  for (const scenario of scenarios) output.scenarios.push(await runScenario(browser, url, scenario, loads, timeoutMs));
  const seconds = Number(values["fps-seconds"]);
  for (const run of values.fps) output.fps.push(await measureFps(browser, url, run, seconds, timeoutMs));
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
