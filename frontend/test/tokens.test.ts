// Token sequences drawn as words: the vocabulary lookup, the wrapped strip's rows, the Attribution spec.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { tokenAttributionSpec } from "../src/widgets/tools/attribution";
import { isTokenSequence, sequenceText, TOKENS_PER_LINE, tokenRows, tokenStrings } from "../src/widgets/tools/shared/tokens";

describe("token sequences", () => {
  it("tells a token sequence from an image", () => {
    assert.equal(isTokenSequence([3, 11, 2]), true);
    assert.equal(isTokenSequence([[0.1, 0.2], [0.3, 0.4]]), false);
    assert.equal(isTokenSequence([]), false);
    assert.equal(isTokenSequence(5), false);
  });

  it("names ids by the vocabulary, others by their id", () => {
    assert.deepEqual(tokenStrings([0, 2, 7, null], ["<pad>", "x", "CUE"]), ["<pad>", "CUE", "#7", "?"]);
    assert.deepEqual(tokenStrings([1, 2.0], null), ["#1", "#2"]);
    assert.equal(sequenceText([2, 1], ["a", "b", "c"]), "c b");
  });

  it("wraps long sequences into lines and keeps each token's value", () => {
    const ids = Array.from({ length: TOKENS_PER_LINE + 2 }, (_, i) => i % 3);
    const values = ids.map((_, i) => i / 10);
    const rows = tokenRows(ids, values, ["a", "b", "c"], 7);
    assert.equal(rows.length, ids.length);
    const last = rows[rows.length - 1];
    assert.deepEqual([last.line, last.column, last.token, last.value, last.sample], [1, 1, ["a", "b", "c"][ids[ids.length - 1]], values[values.length - 1], 7]);
    assert.equal(rows[TOKENS_PER_LINE - 1].line, 0);
    assert.equal(tokenRows([1], null, null, 0)[0].value, null);
  });

  it("draws the strip from the token rows, with the deletion curves below when there are some", () => {
    const plain = tokenAttributionSpec("integrated gradients", 2) as unknown as Record<string, unknown>;
    assert.deepEqual((plain.transform as unknown[])[0], { filter: "datum.image === 'tokens'" });
    const layers = plain.layer as { mark: { type: string }; encoding: Record<string, { field?: string; scale?: { domain: number[] } }> }[];
    assert.deepEqual(layers.map((l) => l.mark.type), ["rect", "text"]);
    assert.equal(layers[0].encoding.color.field, "value");
    assert.equal(Math.max(...(layers[0].encoding.color.scale?.domain ?? [])), 2);
    assert.equal(layers[1].encoding.text.field, "token");
    const withCurves = tokenAttributionSpec("integrated gradients", 2, true) as unknown as { vconcat: Record<string, unknown>[] };
    assert.equal(withCurves.vconcat.length, 2);
  });
});
