// Unit tests of the colour scales (colors.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { MISSING_COLOR, divergingColor, legendStops, modelColors, normalizer, textColorOn } from "../src/colors";

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

describe("divergingColor", () => {
  it("goes from the blue end through near white to the red end", () => {
    assert.equal(divergingColor(0), "#2166ac");
    assert.equal(divergingColor(1), "#b2182b");
    assert.equal(divergingColor(0.5), "#f7f7f7");
    assert.equal(divergingColor(1 / 6), "#67a9cf");
    assert.equal(divergingColor(5 / 6), "#ef8a62");
  });

  it("interpolates between stops", () => {
    // Halfway between #67a9cf and #d1e5f0: (156, 199, 223.5) rounded.
    assert.equal(divergingColor(0.25), "#9cc7e0");
    // Blue decreases and red increases monotonically along the scale.
    const samples = Array.from({ length: 101 }, (_, i) => rgb(divergingColor(i / 100)));
    for (let i = 1; i <= 50; i++) assert.ok(samples[i][0] >= samples[i - 1][0], `red at ${i}`);
    for (let i = 51; i <= 100; i++) assert.ok(samples[i][2] <= samples[i - 1][2], `blue at ${i}`);
  });

  it("clamps outside [0, 1]", () => {
    assert.equal(divergingColor(-0.5), "#2166ac");
    assert.equal(divergingColor(-1e9), "#2166ac");
    assert.equal(divergingColor(1.5), "#b2182b");
    assert.equal(divergingColor(42), "#b2182b");
  });

  it("is grey for missing values", () => {
    assert.equal(MISSING_COLOR, "#d0d0d0");
    assert.equal(divergingColor(null), MISSING_COLOR);
    assert.equal(divergingColor(undefined), MISSING_COLOR);
    assert.equal(divergingColor(NaN), MISSING_COLOR);
  });

  it("always gives a #rrggbb colour", () => {
    for (let i = 0; i <= 1000; i++) assert.match(divergingColor(i / 1000), /^#[0-9a-f]{6}$/);
  });
});

describe("normalizer", () => {
  it("maps min to 0 and max to 1 and ignores null, NaN and infinities", () => {
    const norm = normalizer([3, null, NaN, Infinity, 7, -Infinity, 5]);
    assert.equal(norm(3), 0);
    assert.equal(norm(7), 1);
    assert.equal(norm(5), 0.5);
    assert.equal(norm(4), 0.25);
    assert.equal(norm(null), null);
    assert.equal(norm(NaN), null);
    assert.equal(norm(Infinity), null);
    // Values outside the range are not clamped (the colour scale clamps).
    assert.equal(norm(9), 1.5);
  });

  it("maps equal values to 0.5", () => {
    const norm = normalizer([2, 2, null, 2]);
    assert.equal(norm(2), 0.5);
    assert.equal(norm(null), null);
  });

  it("gives null when there is no finite value", () => {
    assert.equal(normalizer([])(1), null);
    assert.equal(normalizer([null, NaN, Infinity])(1), null);
  });

  it("reads any iterable once", () => {
    function* values() {
      yield -2;
      yield 2;
    }
    const norm = normalizer(values());
    assert.equal(norm(0), 0.5);
    assert.equal(norm(-2), 0);
  });
});

describe("modelColors", () => {
  it("does not depend on the order of the runs", () => {
    const a = modelColors(["vae_90_10", "cnn_skip", "dense_baseline"]);
    const b = modelColors(["dense_baseline", "vae_90_10", "cnn_skip", "cnn_skip"]);
    assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
    assert.equal(a.size, 3);
    // Sorted: cnn_skip, dense_baseline, vae_90_10 take the first three palette colours.
    assert.equal(a.get("cnn_skip"), "#4e79a7");
    assert.equal(a.get("dense_baseline"), "#f28e2b");
    assert.equal(a.get("vae_90_10"), "#e15759");
  });

  it("gives distinct colours to up to 20 runs, then repeats", () => {
    const runs = Array.from({ length: 21 }, (_, i) => `run_${String(i).padStart(2, "0")}`);
    const twenty = modelColors(runs.slice(0, 20));
    assert.equal(new Set(twenty.values()).size, 20);
    for (const c of twenty.values()) assert.match(c, /^#[0-9a-f]{6}$/);
    const many = modelColors(runs);
    assert.equal(many.get("run_20"), many.get("run_00"));
  });

  it("accepts any iterable, including an empty one", () => {
    assert.equal(modelColors(new Set<string>()).size, 0);
    assert.equal(modelColors(new Set(["b", "a"])).get("a"), "#4e79a7");
  });
});

describe("legendStops", () => {
  it("spans the scale from blue to red", () => {
    const stops = legendStops();
    assert.equal(stops.length, 7);
    assert.deepEqual(stops[0], { offset: 0, color: "#2166ac" });
    assert.deepEqual(stops[6], { offset: 1, color: "#b2182b" });
    assert.deepEqual(stops[3], { offset: 0.5, color: "#f7f7f7" });
    for (let i = 1; i < stops.length; i++) assert.ok(stops[i].offset > stops[i - 1].offset);
  });

  it("takes a count", () => {
    assert.deepEqual(legendStops(2), [
      { offset: 0, color: "#2166ac" },
      { offset: 1, color: "#b2182b" },
    ]);
    assert.equal(legendStops(11).length, 11);
    assert.equal(legendStops(11)[10].color, "#b2182b");
  });
});

describe("textColorOn", () => {
  it("is white on dark and black on light backgrounds", () => {
    assert.equal(textColorOn("#2166ac"), "#ffffff");
    assert.equal(textColorOn("#b2182b"), "#ffffff");
    assert.equal(textColorOn("#000000"), "#ffffff");
    assert.equal(textColorOn("#f7f7f7"), "#000000");
    assert.equal(textColorOn("#ffffff"), "#000000");
    assert.equal(textColorOn(MISSING_COLOR), "#000000");
    assert.equal(textColorOn("#FFFFFF"), "#000000");
  });

  it("reads well along the diverging scale: white at both ends, black in the middle", () => {
    assert.equal(textColorOn(divergingColor(0)), "#ffffff");
    assert.equal(textColorOn(divergingColor(0.5)), "#000000");
    assert.equal(textColorOn(divergingColor(1)), "#ffffff");
  });

  it("falls back to black for what it cannot parse", () => {
    assert.equal(textColorOn("red"), "#000000");
    assert.equal(textColorOn("#fff"), "#000000");
    assert.equal(textColorOn(""), "#000000");
  });
});
