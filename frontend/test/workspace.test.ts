// The widget panel's pure parts: the workspace, units from view keys, JSON tools, downloads.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { commonDomains } from "../src/widgets/panel";
import { fileName, toCsv } from "../src/widgets/exports";
import { answerRows, instantiate, jsonTool, type JsonToolDeclaration } from "../src/widgets/jsonTool";
import type { UnitRef, WidgetContent } from "../src/widgets/types";
import { unitFromKey, variableKey } from "../src/widgets/units";
import {
  addWidget,
  dropOn,
  emptyWorkspace,
  parseWorkspace,
  removeWidget,
  serializeWorkspace,
  setGroupFlags,
  setOptions,
  ungroup,
  WorkspaceError,
} from "../src/widgets/workspace";
import type { DataAnswer } from "../src/types";

const model = (run: string): UnitRef => ({ kind: "model", level: "L3", runs: [run], key: `model:${run}`, label: run });
const kernel: UnitRef = { kind: "variable", level: "L2", runs: ["cnn_skip"], layer: "conv_1", variable: "kernel", key: "var:conv_1/kernel", label: "cnn_skip / conv_1 / kernel" };

function three() {
  let ws = emptyWorkspace;
  for (const run of ["a", "b", "c"]) ws = addWidget(ws, "performance-metrics", model(run)).workspace;
  return ws;
}

describe("workspace", () => {
  it("hands out unique ids, even after removals", () => {
    let ws = three();
    assert.deepEqual(ws.widgets.map((w) => w.id), ["w1", "w2", "w3"]);
    ws = removeWidget(ws, "w3");
    const { workspace, id } = addWidget(ws, "note", model("d"));
    assert.equal(id, "w4");
    assert.deepEqual(workspace.widgets.map((w) => w.id), ["w1", "w2", "w4"]);
  });

  it("groups by dropping one widget on another, and dissolves groups of one", () => {
    let ws = dropOn(three(), "w2", "w1");
    assert.deepEqual(ws.groups.map((g) => g.widgets), [["w1", "w2"]]);
    ws = dropOn(ws, "w3", "w2"); // onto a member: joins that group
    assert.deepEqual(ws.groups.map((g) => g.widgets), [["w1", "w2", "w3"]]);
    assert.equal(dropOn(ws, "w1", "w1"), ws, "a widget dropped on itself changes nothing");
    assert.equal(dropOn(ws, "w1", "nope"), ws);
    ws = removeWidget(removeWidget(ws, "w3"), "w2");
    assert.deepEqual(ws.groups, [], "one widget left: no group");
  });

  it("moves a widget from one group to another", () => {
    let ws = addWidget(three(), "note", model("d")).workspace;
    ws = dropOn(dropOn(ws, "w2", "w1"), "w4", "w3");
    ws = dropOn(ws, "w2", "w3");
    assert.deepEqual(ws.groups.map((g) => g.widgets.sort()), [["w2", "w3", "w4"]]);
  });

  it("keeps options and group flags", () => {
    let ws = setOptions(three(), "w1", { step: 0 });
    ws = setOptions(ws, "w1", { text: "hello" });
    assert.deepEqual(ws.widgets[0].options, { step: 0, text: "hello" });
    ws = dropOn(ws, "w2", "w1");
    const id = ws.groups[0].id;
    ws = setGroupFlags(ws, id, { commonScale: true });
    assert.equal(ws.groups[0].commonScale, true);
    assert.equal(ws.groups[0].merged, false);
    assert.deepEqual(ungroup(ws, id).groups, []);
  });

  it("round-trips through its JSON file", () => {
    const ws = setGroupFlags(dropOn(setOptions(three(), "w3", { text: "a note" }), "w2", "w1"), "g4", { merged: true });
    assert.deepEqual(parseWorkspace(serializeWorkspace(ws)), ws);
  });

  it("refuses malformed files with a message that says where", () => {
    const wrap = (workspace: unknown, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ format: "innspector-workspace", version: 1, workspace, ...extra });
    const cases: [string, RegExp][] = [
      ["not json", /not JSON/],
      [JSON.stringify({ format: "other" }), /not an iNNspector workspace/],
      [wrap({ widgets: [], groups: [] }, { version: 7 }), /version 7 is not supported/],
      [wrap({ widgets: {}, groups: [] }), /must be lists/],
      [wrap({ widgets: [{ id: "w1" }], groups: [] }), /widgets\[0\]: needs an id and a tool/],
      [wrap({ widgets: [{ id: "w1", tool: "t", unit: { ...model("a"), kind: "planet" } }], groups: [] }), /widgets\[0\]\.unit\.kind: unknown unit kind/],
      [wrap({ widgets: [{ id: "w1", tool: "t", unit: { ...model("a"), runs: [] } }], groups: [] }), /runs: a non-empty list/],
      [wrap({ widgets: [{ id: "w1", tool: "t", unit: model("a") }, { id: "w1", tool: "t", unit: model("b") }], groups: [] }), /duplicate id w1/],
      [wrap({ widgets: [{ id: "w1", tool: "t", unit: model("a"), options: [1] }], groups: [] }), /options: must be an object/],
      [wrap({ widgets: [{ id: "w1", tool: "t", unit: { ...kernel, neuron: 1.5 } }], groups: [] }), /neuron: must be an integer/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseWorkspace(text), (e: unknown) => e instanceof WorkspaceError && message.test(e.message), text);
  });

  it("drops group members that are not widgets, and groups left with one", () => {
    const text = JSON.stringify({
      format: "innspector-workspace",
      version: 1,
      workspace: { widgets: [{ id: "w1", tool: "t", unit: model("a") }, { id: "w9", tool: "t", unit: model("b") }], groups: [{ id: "g1", widgets: ["w1", "w9", "ghost"] }, { id: "g2", widgets: ["w1", "x"] }] },
    });
    const ws = parseWorkspace(text);
    assert.deepEqual(ws.groups, [{ id: "g1", widgets: ["w1", "w9"], commonScale: false, merged: false }]);
    assert.equal(ws.counter, 9, "new ids do not collide with imported ones");
  });
});

describe("units from the inspection panel's keys", () => {
  const where = { level: "L2" as const, run: "cnn_skip", experiments: [{ id: "e1", name: "dense_baseline", models: [], runs: ["dense_baseline", "cnn_skip"], roots: [], missing_parents: [] }] };
  it("maps every kind of drawn unit", () => {
    assert.deepEqual(unitFromKey("experiment:e1", where), { kind: "experiment", level: "L3", runs: ["dense_baseline", "cnn_skip"], key: "experiment:e1", label: "experiment dense_baseline" });
    assert.deepEqual(unitFromKey("model:vae_fixed", where)?.runs, ["vae_fixed"]);
    assert.deepEqual(unitFromKey("layer:features/conv_1", where), { kind: "layer", level: "L2", runs: ["cnn_skip"], layer: "features/conv_1", key: "layer:features/conv_1", label: "cnn_skip / features/conv_1" });
    const variable = unitFromKey("var:features/conv_1/kernel", where)!;
    assert.deepEqual([variable.kind, variable.layer, variable.variable], ["variable", "features/conv_1", "kernel"]);
    const activation = unitFromKey("op:dense_hidden/activation", where)!;
    assert.deepEqual([activation.kind, activation.layer], ["activation", "dense_hidden"]);
    const neuron = unitFromKey("neuron:features/conv_1:7", { ...where, level: "L1" })!;
    assert.deepEqual([neuron.kind, neuron.layer, neuron.neuron, neuron.level], ["neuron", "features/conv_1", 7, "L1"]);
  });

  it("keeps a variable whose name holds '/' apart from its namespaced layer (MultiHeadAttention's query/kernel)", () => {
    for (const [layer, name] of [
      ["block/attention", "query/kernel"],
      ["encoder/bidirectional", "forward_lstm/lstm_cell/kernel"],
      ["dense", "kernel"],
      ["odd%2Flayer", "a%2Fb/c%"],
    ]) {
      const key = variableKey(layer, name);
      const unit = unitFromKey(key, where)!;
      assert.deepEqual([unit.kind, unit.layer, unit.variable, unit.key], ["variable", layer, name, key], key);
    }
    assert.equal(variableKey("block/attention", "query/kernel"), "var:block/attention/query%2Fkernel");
    assert.equal(variableKey("dense", "kernel"), "var:dense/kernel", "keys of plain names are unchanged");
  });

  it("has no unit for groups, plain ops, unknown experiments or a missing model", () => {
    assert.equal(unitFromKey("group:features", where), null);
    assert.equal(unitFromKey("op:conv_1/conv", where), null);
    assert.equal(unitFromKey("experiment:nope", where), null);
    assert.equal(unitFromKey("layer:conv_1", { ...where, run: null }), null);
    assert.equal(unitFromKey("neuron:conv_1:x", where), null);
  });
});

describe("JSON tools", () => {
  const declaration: JsonToolDeclaration = {
    format: 1,
    id: "sorted",
    name: "Sorted",
    description: "d",
    icon: "M0 0L1 1",
    applies_to: ["variable"],
    class_dependent: false,
    data: { unit: { kind: "weights", layer: "{layer}", variable: "{variable}" }, steps: "last", transform: [{ op: "abs" }] },
    rows: { column: "value", as: "vector" },
    spec: { data: { name: "table" }, mark: "line" },
  };

  it("substitutes whole-string placeholders and refuses a unit that lacks one", () => {
    assert.deepEqual(instantiate(declaration.data, kernel, null), {
      run: "cnn_skip",
      unit: { kind: "weights", layer: "conv_1", variable: "kernel" },
      steps: "last",
      transform: [{ op: "abs" }],
    });
    assert.throws(() => instantiate(declaration.data, model("a"), null), /has no layer/);
    const withClasses = instantiate({ unit: { kind: "activations", layer: "{layer}" } }, kernel, ["3"]);
    assert.deepEqual(withClasses.classes, ["3"]);
    assert.deepEqual(instantiate({ unit: { kind: "labels" }, classes: [1] }, kernel, null).classes, [1]);
  });

  it("turns answers into rows: vector, matrix, histogram", () => {
    const answer = (value: unknown): DataAnswer => ({ run: "r", unit: { kind: "activations", layer: "l" }, steps: [1], result: { value } as DataAnswer["result"] });
    assert.deepEqual(answerRows(answer({ shape: [3], dtype: "float32", data: [3, null, 1] }), { column: "value", as: "vector" }), [
      { index: 0, value: 3 },
      { index: 1, value: null },
      { index: 2, value: 1 },
    ]);
    assert.deepEqual(answerRows(answer({ shape: [1, 2], dtype: "float32", data: [[5, 6]] }), { column: "value", as: "matrix" }), [
      { row: 0, col: 0, value: 5 },
      { row: 0, col: 1, value: 6 },
    ]);
    assert.deepEqual(answerRows(answer({ edges: [0, 1, 2], counts: [4, 5] }), { column: "value", as: "histogram" }), [
      { start: 0, end: 1, count: 4 },
      { start: 1, end: 2, count: 5 },
    ]);
    assert.throws(() => answerRows(answer({ shape: [2, 2], dtype: "f", data: [] }), { column: "value", as: "vector" }), /not a vector/);
    assert.throws(() => answerRows(answer({ shape: [2], dtype: "f", data: [] }), { column: "other", as: "vector" }), /no column 'other'/);
  });

  it("becomes a toolbox tool that applies to the declared kinds only", async () => {
    const tool = jsonTool(declaration);
    assert.equal(tool.id, "json:sorted");
    assert.equal(tool.category, "Custom");
    assert.equal(await tool.appliesTo(kernel, {} as never), true);
    assert.equal(await tool.appliesTo(model("a"), {} as never), false);
  });
});

describe("downloads and common scales", () => {
  it("writes CSV with quoting and the union of columns", () => {
    assert.equal(toCsv([{ a: 1, b: "x,y" }, { a: null, c: 'say "hi"' }, { b: { n: 1 } }]), 'a,b,c\n1,"x,y",\n,,"say ""hi"""\n,"{""n"":1}",\n');
    assert.equal(toCsv([]), "\n");
  });

  it("names files safely", () => {
    assert.equal(fileName("histogram", "cnn_skip / conv_1 / kernel", "png"), "histogram_cnn_skip_conv_1_kernel.png");
    assert.equal(fileName("json:x", "../../etc/passwd", "csv"), "json_x_.._.._etc_passwd.csv");
  });

  it("unites the extents of a group's widgets", () => {
    const content = (x?: [number, number], y?: [number, number]): WidgetContent => ({ spec: null, rows: [], extents: { x, y } });
    assert.deepEqual(commonDomains([content([0, 2], [0, 5]), content([-1, 1], [0, 9]), content()]), { xDomain: [-1, 2], yDomain: [0, 9] });
    assert.deepEqual(commonDomains([content(), content([NaN, 1])]), {});
  });
});
