// The client of the routes: a 503 (the server's bound on concurrent heavy work) is sent again after the
// Retry-After it gives, a few times, then reported; the class selection goes to each run narrowed to its own classes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { api, BUSY_RETRIES, classesForRun, forget, retryAfterMs, setRunClasses } from "../src/api";

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

describe("busy server", () => {
  it("reads Retry-After within bounds", () => {
    assert.equal(retryAfterMs("1"), 1000);
    assert.equal(retryAfterMs("0"), 1000);
    assert.equal(retryAfterMs("3600"), 30_000);
    assert.equal(retryAfterMs(null), 2000);
    assert.equal(retryAfterMs("soon"), 2000);
  });

  it("retries a 503 after Retry-After, then answers", async () => {
    const realFetch = globalThis.fetch;
    const answers = [answer(503, { error: "busy" }, { "Retry-After": "1" }), answer(200, { models: [] })];
    let calls = 0;
    globalThis.fetch = (async () => answers[Math.min(calls++, answers.length - 1)]) as typeof fetch;
    try {
      forget();
      const started = Date.now();
      const models = await api.models();
      assert.deepEqual(models, { models: [] });
      assert.equal(calls, 2);
      assert.ok(Date.now() - started >= 900, "waited the Retry-After");
    } finally {
      globalThis.fetch = realFetch;
      forget();
    }
  });

  it("gives up after BUSY_RETRIES and reports the 503", async () => {
    const realFetch = globalThis.fetch;
    let calls = 0;
    globalThis.fetch = (async () => {
      calls++;
      return answer(503, { error: "the server is busy" }, { "Retry-After": "0" });
    }) as typeof fetch;
    try {
      forget();
      await assert.rejects(api.tree(), /busy/);
      assert.equal(calls, BUSY_RETRIES + 1);
    } finally {
      globalThis.fetch = realFetch;
      forget();
    }
  });
});

describe("the class selection per run", () => {
  it("narrows the selection (the union over every model) to the classes of the run a request is about", () => {
    setRunClasses([
      { run: "digits", classes: ["0", "1", "2"] },
      { run: "text", classes: ["after cue: 3", "after cue: 4"] },
    ]);
    assert.deepEqual(classesForRun("digits", ["1", "2", "after cue: 3", "after cue: 4"]), ["1", "2"]);
    assert.equal(classesForRun("text", ["1", "2", "after cue: 3", "after cue: 4"]), null, "all of its classes: no filter");
    assert.deepEqual(classesForRun("text", ["0", "after cue: 4"]), ["after cue: 4"]);
    assert.deepEqual(classesForRun("text", ["0"]), ["0"], "none of its classes: as given, for the server to name");
    assert.equal(classesForRun("digits", null), null);
    assert.deepEqual(classesForRun("unknown", ["0"]), ["0"]);
  });
});
