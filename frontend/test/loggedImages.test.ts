// Unit tests of the Logged Images tool (widgets/tools/loggedImages.ts) on answers shaped like the
// `images` route's.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { ImagesAnswer, Model } from "../src/types";
import type { ToolContext, UnitRef } from "../src/widgets/types";
import { loggedImagesRows, loggedImagesTool, MAX_SAMPLES_SHOWN, stepShown } from "../src/widgets/tools/loggedImages";

const loop: ImagesAnswer = {
  run: "loop",
  images: [
    { tag: "samples", series_run: "loop", steps: [0, 2, 4], samples: 2 },
    { tag: "batch", series_run: "loop", steps: [4], samples: 20 },
  ],
};
const keras: ImagesAnswer = { run: "keras", images: [{ tag: "samples", series_run: "keras/train", steps: [1, 3], samples: 1 }] };
const urlOf = (p: { run: string; tag: string; step: number; sample: number; series_run: string }) =>
  `image?run=${p.run}&tag=${p.tag}&step=${p.step}&sample=${p.sample}&series_run=${p.series_run}`;

function model(run: string, imageTags?: string[]): Model {
  return {
    run, id: run, name: run, label: run, parents: [], hparams: {}, steps: [0], params: null, runtime: null, layer_count: null,
    classes: [], glyph: [], attributions: null, latest_metrics: {}, errors: [], plain: true, series_runs: [run],
    ...(imageTags ? { image_tags: imageTags } : {}),
  };
}

describe("the Logged Images tool", () => {
  it("picks the tag most models logged and its last step by default, one row per model and sample", () => {
    assert.equal(loggedImagesRows([loop, keras], {}, urlOf).tag, "samples");
    const { tags, tag, steps, step, rows } = loggedImagesRows([loop, keras], { tag: "batch" }, urlOf);
    assert.deepEqual(tags, ["batch", "samples"]);
    assert.equal(tag, "batch");
    assert.deepEqual(steps, [4]);
    assert.equal(step, 4);
    assert.equal(rows.length, MAX_SAMPLES_SHOWN, "a batch of 20 shows its first samples only");
    assert.ok(rows.every((r) => r.model === "loop"), "keras logged no 'batch': no column rows");
  });

  it("shows each model's newest step up to the chosen one, from the run holding the tag", () => {
    const { steps, rows } = loggedImagesRows([loop, keras], { tag: "samples", step: 3 }, urlOf);
    assert.deepEqual(steps, [0, 1, 2, 3, 4]);
    assert.equal(loggedImagesRows([loop, keras], { tag: "samples", step: 7 }, urlOf).step, 4, "an unknown step: the last");
    assert.deepEqual(
      rows.map((r) => [r.model, r.step, r.sample]),
      [["loop", 2, 0], ["loop", 2, 1], ["keras", 3, 0]],
    );
    assert.equal(rows[2].url, "image?run=keras&tag=samples&step=3&sample=0&series_run=keras/train");
    assert.equal(stepShown([5, 9], 1), 5, "before a model's first step: its first");
    assert.equal(stepShown([], 1), null);
  });

  it("applies to models and experiments with logged images only", () => {
    const ctx = { models: new Map([["loop", model("loop", ["samples"])], ["bare", model("bare")]]) } as unknown as ToolContext;
    const unit = (kind: UnitRef["kind"], runs: string[]): UnitRef => ({ kind, level: "L3", runs, key: `${kind}:${runs[0]}`, label: runs.join(",") });
    assert.equal(loggedImagesTool.appliesTo(unit("model", ["loop"]), ctx), true);
    assert.equal(loggedImagesTool.appliesTo(unit("model", ["bare"]), ctx), false);
    assert.equal(loggedImagesTool.appliesTo(unit("experiment", ["bare", "loop"]), ctx), true);
    assert.equal(loggedImagesTool.appliesTo({ ...unit("layer", ["loop"]), layer: "dense" }, ctx), false);
    assert.equal(loggedImagesTool.plainRuns, true);
    assert.match(loggedImagesTool.whyNot?.(unit("model", ["bare"]), ctx) ?? "", /no images logged/);
    assert.equal(loggedImagesTool.whyNot?.(unit("model", ["loop"]), ctx), undefined);
  });
});
