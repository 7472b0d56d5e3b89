// Unit tests of the pure parts of pan and zoom (viewport.ts) and of the model glyph of the tree of
// models (views/modelTree.ts). Both modules load in node: DOM access happens only when their classes or
// renderers run (this file importing them is the check).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { MAX_ZOOM, MIN_ZOOM, fitTransform, visibleRect, zoomAround, type Transform } from "../src/viewport";
import { glyphBars, glyphColor } from "../src/views/modelTree";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

/** The content point under the stage point (px, py). */
const contentAt = (t: Transform, px: number, py: number) => ({ x: (px - t.x) / t.k, y: (py - t.y) / t.k });

describe("zoomAround", () => {
  it("keeps the content point under the pointer fixed", () => {
    const t = { x: 10, y: 20, k: 1 };
    const z = zoomAround(t, 2, 100, 50);
    assert.deepEqual(z, { k: 2, x: -80, y: -10 });
    assert.deepEqual(contentAt(z, 100, 50), contentAt(t, 100, 50));
    for (const [factor, px, py] of [
      [0.5, 0, 0],
      [1.3, 400, 300],
      [0.9, -20, 710],
      [3, 123.4, 56.7],
    ]) {
      const start = { x: -37, y: 12, k: 0.7 };
      const next = zoomAround(start, factor, px, py);
      close(next.k, 0.7 * factor);
      const before = contentAt(start, px, py);
      const after = contentAt(next, px, py);
      close(after.x, before.x);
      close(after.y, before.y);
    }
  });

  it("clamps the zoom and still keeps the pointer's point", () => {
    const t = { x: 5, y: 5, k: 3 };
    const high = zoomAround(t, 10, 200, 100);
    assert.equal(high.k, MAX_ZOOM);
    const before = contentAt(t, 200, 100);
    close(contentAt(high, 200, 100).x, before.x);
    close(contentAt(high, 200, 100).y, before.y);
    const low = zoomAround({ x: 0, y: 0, k: 0.1 }, 0.01, 50, 50);
    assert.equal(low.k, MIN_ZOOM);
    close(contentAt(low, 50, 50).x, 500);
    // Zooming further at the limit changes nothing.
    assert.deepEqual(zoomAround({ x: 7, y: 8, k: MAX_ZOOM }, 2, 30, 40), { x: 7, y: 8, k: MAX_ZOOM });
  });

  it("is the identity for factor 1", () => {
    assert.deepEqual(zoomAround({ x: 3, y: -4, k: 1.5 }, 1, 99, 77), { x: 3, y: -4, k: 1.5 });
  });

  it("undoes itself with the inverse factor", () => {
    const t = { x: 12, y: -30, k: 0.8 };
    const back = zoomAround(zoomAround(t, 1.7, 150, 90), 1 / 1.7, 150, 90);
    close(back.k, t.k);
    close(back.x, t.x);
    close(back.y, t.y);
  });
});

describe("fitTransform", () => {
  const stage = { width: 800, height: 600 };

  it("shrinks big content to fit inside the margins, centred", () => {
    const t = fitTransform({ width: 1000, height: 500 }, stage);
    close(t.k, 0.768); // (800 - 32) / 1000, the tighter dimension
    close(t.x, 16);
    close(t.y, (600 - 500 * 0.768) / 2);
    // The content lies within the stage.
    assert.ok(t.x >= 16 - 1e-9 && t.x + 1000 * t.k <= 800 - 16 + 1e-9);
    assert.ok(t.y >= 16 && t.y + 500 * t.k <= 600 - 16 + 1e-9);
  });

  it("fits tall content by its height", () => {
    const t = fitTransform({ width: 200, height: 2000 }, stage);
    close(t.k, (600 - 32) / 2000);
    close(t.y, 16);
    close(t.x, (800 - 200 * t.k) / 2);
  });

  it("never enlarges past 1", () => {
    const t = fitTransform({ width: 100, height: 50 }, stage);
    assert.deepEqual(t, { k: 1, x: 350, y: 275 });
    assert.equal(fitTransform({ width: 768, height: 568 }, stage).k, 1);
  });

  it("never goes below the minimum zoom and keeps the top margin", () => {
    const t = fitTransform({ width: 1e6, height: 1e6 }, stage);
    assert.equal(t.k, MIN_ZOOM);
    assert.equal(t.y, 16);
  });

  it("handles empty content and a custom margin", () => {
    const t = fitTransform({ width: 0, height: 0 }, stage);
    assert.equal(t.k, 1);
    assert.ok(Number.isFinite(t.x) && Number.isFinite(t.y));
    const m = fitTransform({ width: 1000, height: 100 }, stage, 0);
    close(m.k, 0.8);
    close(m.x, 0);
  });
});

describe("visibleRect", () => {
  it("is the content rectangle shown by the stage", () => {
    assert.deepEqual(visibleRect({ x: -100, y: -50, k: 2 }, { width: 800, height: 600 }), { x: 50, y: 25, width: 400, height: 300 });
    assert.deepEqual(visibleRect({ x: 0, y: 0, k: 1 }, { width: 800, height: 600 }), { x: -0, y: -0, width: 800, height: 600 });
  });

  it("agrees with zoomAround: the pointer's content point keeps its place in the rectangle", () => {
    const stage = { width: 800, height: 600 };
    const t = { x: 40, y: -20, k: 1.2 };
    const z = zoomAround(t, 1.5, 200, 300);
    const before = visibleRect(t, stage);
    const after = visibleRect(z, stage);
    const p = contentAt(t, 200, 300);
    close((p.x - before.x) / before.width, (p.x - after.x) / after.width);
    close((p.y - before.y) / before.height, (p.y - after.y) / after.height);
    close(after.width, before.width / 1.5);
  });

  it("shows the whole content after fitTransform", () => {
    const stage = { width: 800, height: 600 };
    const content = { width: 3000, height: 1200 };
    const r = visibleRect(fitTransform(content, stage), stage);
    assert.ok(r.x <= 0 && r.y <= 0 && r.x + r.width >= content.width && r.y + r.height >= content.height);
  });
});

describe("glyphBars", () => {
  const glyph = [
    { type: "InputLayer", params: 0 },
    { type: "Conv2D", params: 160 },
    { type: "MaxPooling2D", params: 0 },
    { type: "Dense", params: 8224 },
    { type: "Dense", params: 330 },
  ];

  it("lays bars side by side within the width", () => {
    const bars = glyphBars(glyph, 172, 30);
    assert.equal(bars.length, 5);
    const step = 172 / 5;
    bars.forEach((bar, i) => {
      close(bar.x, i * step);
      close(bar.width, step - 1);
      assert.ok(bar.x >= 0 && bar.x + bar.width <= 172);
    });
    assert.deepEqual(
      bars.map((b) => [b.type, b.color]),
      glyph.map((g) => [g.type, glyphColor(g.type)]),
    );
  });

  it("fits 48 sampled layers in the model box", () => {
    const many = Array.from({ length: 48 }, (_, i) => ({ type: i % 2 ? "Dense" : "ReLU", params: i * 100 }));
    const bars = glyphBars(many, 172, 30);
    assert.equal(bars.length, 48);
    for (let i = 1; i < bars.length; i++) assert.ok(bars[i].x >= bars[i - 1].x + bars[i - 1].width, "no overlap");
    const last = bars[bars.length - 1];
    assert.ok(last.x + last.width <= 172);
  });

  it("makes bars taller for more parameters, the largest full height", () => {
    const bars = glyphBars(glyph, 172, 30);
    const h = (i: number) => bars[i].height;
    assert.ok(h(3) > h(4) && h(4) > h(1), `${bars.map((b) => b.height)}`);
    close(h(3), 30);
    close(h(1), (Math.log10(161) / Math.log10(8225)) * 30);
    for (const bar of bars) assert.ok(bar.height <= 30);
  });

  it("draws layers without parameters as short ticks, shorter than any layer with parameters", () => {
    const bars = glyphBars([{ type: "Flatten", params: 0 }, { type: "Dense", params: 1 }, { type: "Dense", params: 1e7 }], 100, 30);
    assert.equal(bars[0].height, 2);
    assert.equal(bars[1].height, 3, "one parameter: the minimum visible bar");
    close(bars[2].height, 30);
    const none = glyphBars([{ type: "Flatten", params: 0 }, { type: "Dropout", params: 0 }], 100, 30);
    assert.deepEqual(none.map((b) => b.height), [2, 2]);
  });

  it("scales small models by at least one decade", () => {
    // maxLog is at least 1 (one decade): below 9 parameters the biggest bar is not full height.
    const bars = glyphBars([{ type: "Dense", params: 9 }], 50, 30);
    close(bars[0].height, 30);
    const tiny = glyphBars([{ type: "Dense", params: 3 }], 50, 30);
    close(tiny[0].height, Math.log10(4) * 30);
  });

  it("gives no bars for an empty glyph", () => {
    assert.deepEqual(glyphBars([], 172, 30), []);
  });
});

describe("glyphColor", () => {
  it("colours layer families", () => {
    const cases: [string, string][] = [
      ["Conv2D", "#4e79a7"],
      ["SeparableConv1D", "#4e79a7"],
      ["Dense", "#f28e2b"],
      ["EinsumDense", "#f28e2b"],
      ["BatchNormalization", "#59a14f"],
      ["LayerNormalization", "#59a14f"],
      ["MaxPooling2D", "#b07aa1"],
      ["GlobalAveragePooling2D", "#b07aa1"],
      ["Dropout", "#bab0ac"],
      ["GaussianNoise", "#bab0ac"],
      ["Add", "#edc948"],
      ["Concatenate", "#edc948"],
      ["Multiply", "#edc948"],
      ["Activation", "#e15759"],
      ["ReLU", "#e15759"],
      ["Softmax", "#e15759"],
      ["LSTM", "#76b7b2"],
      ["GRU", "#76b7b2"],
      ["InputLayer", "#9c9c9c"],
      ["Flatten", "#9c9c9c"],
      ["Sampling", "#9c9c9c"],
    ];
    for (const [type, color] of cases) assert.equal(glyphColor(type), color, type);
  });
});
