// Unit tests of the tab's state (state.ts): transitions, persistence and the store.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  DEFAULT_K,
  MAX_K,
  STORAGE_KEY,
  Store,
  ascendTo,
  breadcrumbs,
  initialState,
  reconcile,
  restore,
  selectAllClasses,
  serialize,
  setK,
  setMeasure,
  showModel,
  showModels,
  showNeurons,
  toggleClass,
  toggleGroup,
  toggleLocalization,
  type AppState,
  type Storage,
} from "../src/state";

const CLASSES = ["0", "1", "2", "3"];

const s0 = (): AppState => ({ ...initialState });

class MemoryStorage implements Storage {
  readonly items = new Map<string, string>();
  writes = 0;
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.writes++;
    this.items.set(key, value);
  }
}

describe("navigation", () => {
  it("starts at the tree of models", () => {
    assert.deepEqual(initialState, {
      level: "L3",
      run: null,
      layer: null,
      openGroups: {},
      focus: null,
      classes: null,
      measure: "abnormal",
      localization: [],
      k: DEFAULT_K,
    });
  });

  it("shows a model at L2, clearing the layer", () => {
    const atL1: AppState = { ...s0(), level: "L1", run: "a", layer: "dense", focus: "layer:dense" };
    assert.deepEqual(showModel(atL1, "b"), { ...atL1, level: "L2", run: "b", layer: null, focus: null });
    assert.equal(showModel(s0(), "b", "layer:conv_1").focus, "layer:conv_1");
  });

  it("shows the neurons of a layer at L1 with the layer focused, only with a model", () => {
    const atL2 = showModel(s0(), "cnn_skip");
    const atL1 = showNeurons(atL2, "encoder/dense_1");
    assert.equal(atL1.level, "L1");
    assert.equal(atL1.run, "cnn_skip");
    assert.equal(atL1.layer, "encoder/dense_1");
    assert.equal(atL1.focus, "layer:encoder/dense_1");
    const none = s0();
    assert.equal(showNeurons(none, "dense"), none, "no model: no change, same object");
  });

  it("goes back to the models focusing the current one", () => {
    const atL2 = showModel(s0(), "cnn_skip");
    assert.deepEqual(showModels(atL2), { ...atL2, level: "L3", focus: "model:cnn_skip" });
    assert.equal(showModels(s0()).focus, null);
    assert.equal(showModels(atL2, "experiment:x").focus, "experiment:x");
  });

  it("ascends with the breadcrumbs", () => {
    const atL1 = showNeurons(showModel(s0(), "cnn_skip"), "dense_hidden");
    const up = ascendTo(atL1, "L2");
    assert.equal(up.level, "L2");
    assert.equal(up.run, "cnn_skip");
    assert.equal(up.focus, "layer:dense_hidden");
    const top = ascendTo(atL1, "L3");
    assert.equal(top.level, "L3");
    assert.equal(top.focus, "model:cnn_skip");
    // L2 without a layer keeps the focus; L1 is not reachable by ascending; L2 needs a model.
    const atL2 = showModel(s0(), "cnn_skip", "layer:pool");
    assert.equal(ascendTo(atL2, "L2").focus, "layer:pool");
    assert.equal(ascendTo(atL1, "L1"), atL1);
    const none = s0();
    assert.equal(ascendTo(none, "L2"), none);
  });

  it("builds the breadcrumb trail", () => {
    assert.deepEqual(breadcrumbs(s0()), [{ level: "L3", label: "Models" }]);
    const atL2 = showModel(s0(), "cnn_skip");
    assert.deepEqual(breadcrumbs(atL2), [
      { level: "L3", label: "Models" },
      { level: "L2", label: "cnn_skip" },
    ]);
    assert.deepEqual(breadcrumbs(showNeurons(atL2, "dense")), [
      { level: "L3", label: "Models" },
      { level: "L2", label: "cnn_skip" },
      { level: "L1", label: "dense (neurons)" },
    ]);
    // At L3 a remembered run is no crumb.
    assert.deepEqual(breadcrumbs(showModels(atL2)), [{ level: "L3", label: "Models" }]);
  });
});

describe("classes", () => {
  it("deselects a class from all", () => {
    assert.deepEqual(toggleClass(s0(), "1", CLASSES).classes, ["0", "2", "3"]);
  });

  it("keeps the order of all classes", () => {
    let s = toggleClass(s0(), "0", CLASSES); // 1 2 3
    s = toggleClass(s, "2", CLASSES); // 1 3
    s = toggleClass(s, "0", CLASSES); // 0 1 3
    assert.deepEqual(s.classes, ["0", "1", "3"]);
  });

  it("never empties the selection", () => {
    const one: AppState = { ...s0(), classes: ["2"] };
    assert.equal(toggleClass(one, "2", CLASSES), one);
    const single = s0();
    assert.equal(toggleClass(single, "only", ["only"]), single);
  });

  it("goes back to null when every class is selected", () => {
    const s: AppState = { ...s0(), classes: ["0", "1", "3"] };
    assert.equal(toggleClass(s, "2", CLASSES).classes, null);
    assert.equal(selectAllClasses(s).classes, null);
  });

  it("drops selected classes that are not among all", () => {
    const s: AppState = { ...s0(), classes: ["0", "gone"] };
    assert.deepEqual(toggleClass(s, "1", CLASSES).classes, ["0", "1"]);
  });
});

describe("groups, localization, measure, k", () => {
  it("toggles groups per run, sorted", () => {
    let s = toggleGroup(s0(), "a", "encoder");
    s = toggleGroup(s, "a", "block:#0");
    s = toggleGroup(s, "b", "decoder");
    assert.deepEqual(s.openGroups, { a: ["block:#0", "encoder"], b: ["decoder"] });
    s = toggleGroup(s, "a", "encoder");
    assert.deepEqual(s.openGroups, { a: ["block:#0"], b: ["decoder"] });
  });

  it(
    "opens groups of a run named like an Object.prototype member",
    () => {
      for (const run of ["constructor", "toString", "__proto__"]) {
        const s = toggleGroup(s0(), run, "encoder");
        assert.deepEqual(s.openGroups[run], ["encoder"], run);
      }
    },
  );

  it("does not mutate the previous state", () => {
    const before = toggleGroup(s0(), "a", "encoder");
    const snapshot = JSON.stringify(before);
    toggleGroup(before, "a", "decoder");
    toggleClass(before, "1", CLASSES);
    toggleLocalization(before, "layer:Dense");
    assert.equal(JSON.stringify(before), snapshot);
    assert.deepEqual(initialState.openGroups, {});
  });

  it("toggles localization keys, sorted", () => {
    let s = toggleLocalization(s0(), "structure:skip_connection");
    s = toggleLocalization(s, "layer:Conv2D");
    assert.deepEqual(s.localization, ["layer:Conv2D", "structure:skip_connection"]);
    assert.deepEqual(toggleLocalization(s, "layer:Conv2D").localization, ["structure:skip_connection"]);
  });

  it("sets the measure, an empty one is none", () => {
    assert.equal(setMeasure(s0(), "variance").measure, "variance");
    assert.equal(setMeasure({ ...s0(), measure: "variance" }, "").measure, null);
    assert.equal(setMeasure({ ...s0(), measure: "variance" }, null).measure, null);
  });

  it("clamps k to [1, MAX_K], rounds it and handles NaN", () => {
    assert.equal(setK(s0(), 5).k, 5);
    assert.equal(setK(s0(), 0).k, 1);
    assert.equal(setK(s0(), -30).k, 1);
    assert.equal(setK(s0(), MAX_K + 1).k, MAX_K);
    assert.equal(setK(s0(), 1e12).k, MAX_K);
    assert.equal(setK(s0(), 7.6).k, 8);
    assert.equal(setK(s0(), NaN).k, DEFAULT_K);
    assert.equal(setK(s0(), Infinity).k, DEFAULT_K);
    assert.equal(setK(s0(), -Infinity).k, DEFAULT_K);
  });
});

describe("serialize and restore", () => {
  it("round-trips a state", () => {
    const states: AppState[] = [
      s0(),
      {
        level: "L1",
        run: "cnn_skip",
        layer: "encoder/dense_1",
        openGroups: { cnn_skip: ["block:#0", "encoder"], other: [] },
        focus: "layer:encoder/dense_1",
        classes: ["1", "3"],
        measure: "variance",
        localization: ["layer:Conv2D", "structure:skip_connection"],
        k: 137,
      },
      { ...s0(), level: "L2", run: "vae", focus: "layer:z_mean", k: MAX_K },
    ];
    for (const state of states) assert.deepEqual(restore(serialize(state)), state);
    assert.deepEqual(JSON.parse(serialize(s0())), { version: 1, state: s0() });
  });

  it("falls back to the initial state for garbage", () => {
    for (const text of [null, "", "{", "not json", "null", "42", '"text"', "[]", "{}", '{"version":2,"state":{"level":"L2","run":"a"}}', '{"version":1}', '{"version":1,"state":null}', '{"version":1,"state":"L2"}', '{"version":"1","state":{}}']) {
      assert.deepEqual(restore(text), initialState, String(text));
    }
  });

  it("returns a fresh object, not initialState itself", () => {
    const restored = restore(null);
    assert.notEqual(restored, initialState);
  });

  it("falls back field by field for wrong types", () => {
    const text = JSON.stringify({
      version: 1,
      state: {
        level: "L7",
        run: 5,
        layer: ["x"],
        openGroups: { good: ["a", "b"], bad: "a", mixed: ["a", 3], nested: { x: 1 } },
        focus: {},
        classes: "all",
        measure: 3,
        localization: [1, 2],
        k: "20",
      },
    });
    assert.deepEqual(restore(text), { ...initialState, openGroups: { good: ["a", "b"] } });
    assert.deepEqual(restore(JSON.stringify({ version: 1, state: { openGroups: ["x"], k: 5000, classes: [] } })), {
      ...initialState,
      openGroups: {},
      k: MAX_K,
      classes: null,
    });
    assert.equal(restore(JSON.stringify({ version: 1, state: { k: -3.2 } })).k, 1);
  });

  it("falls back to a level that has what it needs", () => {
    const saved = (state: Record<string, unknown>) => restore(JSON.stringify({ version: 1, state }));
    // L1 without a layer: the model.
    let s = saved({ level: "L1", run: "a", layer: null, focus: "layer:x" });
    assert.equal(s.level, "L2");
    assert.equal(s.run, "a");
    // L1 without a model: the tree.
    s = saved({ level: "L1", run: null, layer: "dense" });
    assert.equal(s.level, "L3");
    // L2 without a model: the tree.
    s = saved({ level: "L2" });
    assert.equal(s.level, "L3");
    // Complete L1 stays.
    s = saved({ level: "L1", run: "a", layer: "dense" });
    assert.deepEqual([s.level, s.run, s.layer], ["L1", "a", "dense"]);
  });
});

describe("reconcile", () => {
  const saved: AppState = {
    ...s0(),
    level: "L1",
    run: "gone",
    layer: "dense",
    focus: "layer:dense",
    classes: ["1", "9"],
    openGroups: { gone: ["encoder"] },
  };

  it("drops a run that vanished and goes to the tree", () => {
    const next = reconcile(saved, ["a", "b"], CLASSES);
    assert.deepEqual([next.level, next.run, next.layer, next.focus], ["L3", null, null, null]);
  });

  it("keeps a run that is still there", () => {
    const next = reconcile({ ...saved, run: "a" }, ["a", "b"], CLASSES);
    assert.deepEqual([next.level, next.run, next.layer, next.focus], ["L1", "a", "dense", "layer:dense"]);
  });

  it("drops unknown classes, and an empty or complete selection becomes null", () => {
    assert.deepEqual(reconcile(saved, ["gone"], CLASSES).classes, ["1"]);
    assert.deepEqual(reconcile(saved, ["gone"], ["9", "8"]).classes, ["9"]);
    assert.equal(reconcile(saved, ["gone"], ["9"]).classes, null, "the one kept class is every class");
  });

  it("goes back to all classes when none of the selected is left", () => {
    assert.equal(reconcile({ ...saved, classes: ["x", "y"] }, ["gone"], CLASSES).classes, null);
    assert.equal(reconcile({ ...saved, classes: ["0", "1", "2", "3"] }, ["gone"], CLASSES).classes, null);
  });

  it("changes nothing when everything is still there", () => {
    const ok: AppState = { ...s0(), level: "L2", run: "a" };
    assert.equal(reconcile(ok, ["a"], CLASSES), ok);
  });
});

describe("Store", () => {
  it("restores from storage and persists each change", () => {
    const storage = new MemoryStorage();
    storage.items.set(STORAGE_KEY, serialize({ ...s0(), level: "L2", run: "cnn_skip" }));
    const store = new Store(storage);
    assert.equal(store.get().level, "L2");
    assert.equal(store.get().run, "cnn_skip");
    store.update((s) => showNeurons(s, "dense"));
    assert.equal(storage.writes, 1);
    assert.deepEqual(restore(storage.items.get(STORAGE_KEY)!), store.get());
    assert.equal(store.get().layer, "dense");
    // A second store on the same storage starts where the first left off.
    assert.deepEqual(new Store(storage).get(), store.get());
  });

  it("notifies listeners with the next and previous state", () => {
    const store = new Store(new MemoryStorage());
    const calls: [AppState, AppState][] = [];
    const unsubscribe = store.subscribe((next, previous) => calls.push([next, previous]));
    const before = store.get();
    store.update((s) => showModel(s, "a"));
    assert.equal(calls.length, 1);
    assert.equal(calls[0][1], before);
    assert.equal(calls[0][0], store.get());
    assert.equal(calls[0][0].run, "a");
    unsubscribe();
    store.update((s) => showModel(s, "b"));
    assert.equal(calls.length, 1);
    assert.equal(store.get().run, "b");
  });

  it("does not notify or persist when the transition returns the same object", () => {
    const storage = new MemoryStorage();
    const store = new Store(storage);
    let notified = 0;
    store.subscribe(() => notified++);
    store.update((s) => s);
    store.update((s) => showNeurons(s, "dense")); // no model: unchanged
    store.update((s) => ascendTo(s, "L1"));
    assert.equal(notified, 0);
    assert.equal(storage.writes, 0);
    // An equal but new object is a change.
    store.update((s) => ({ ...s }));
    assert.equal(notified, 1);
    assert.equal(storage.writes, 1);
  });

  it("starts fresh from garbage in storage", () => {
    const storage = new MemoryStorage();
    storage.items.set(STORAGE_KEY, "{not json");
    assert.deepEqual(new Store(storage).get(), initialState);
  });

  it("survives a storage whose getItem and setItem throw", () => {
    const broken: Storage = {
      getItem() {
        throw new Error("SecurityError");
      },
      setItem() {
        throw new Error("QuotaExceededError");
      },
    };
    const store = new Store(broken);
    assert.deepEqual(store.get(), initialState);
    let notified = 0;
    store.subscribe(() => notified++);
    store.update((s) => showModel(s, "a"));
    assert.equal(store.get().run, "a");
    assert.equal(notified, 1, "listeners still hear of the change");
  });

  it("works without storage", () => {
    const store = new Store(null);
    store.update((s) => setK(s, 3));
    assert.equal(store.get().k, 3);
  });
});
