// Branch Model: a ready-to-paste Python header for a child of the chosen model (paper §5.4.1): the
// parent's header rebuilt from its logged id, name, label, parents and hyper-parameters, and a call of
// `innspector_tb.branch(parent, name, label=...)`, which gives the child a fresh id and the parent's
// hyper-parameters (changed ones are passed as keywords).

import { html } from "../../svg";
import type { Model } from "../../types";
import type { Tool, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";

const INDENT = "    ";

function pythonString(value: string): string {
  // A JSON string literal is a valid Python one (same escapes; \uXXXX included).
  return JSON.stringify(value);
}

function pythonNumber(value: number): string {
  if (Number.isNaN(value)) return 'float("nan")';
  if (!Number.isFinite(value)) return value > 0 ? 'float("inf")' : '-float("inf")';
  return Object.is(value, -0) ? "-0.0" : String(value);
}

/** A JSON-safe value as a Python literal: None, True, False, numbers, strings, lists and dicts. */
export function pythonLiteral(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return pythonNumber(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return pythonString(value);
  const pad = INDENT.repeat(depth + 1);
  const close = INDENT.repeat(depth);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    const items = value.map((item) => pythonLiteral(item, depth + 1));
    const inline = `[${items.join(", ")}]`;
    if (inline.length <= 72 && !inline.includes("\n")) return inline;
    return `[\n${items.map((item) => pad + item + ",").join("\n")}\n${close}]`;
  }
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) return "{}";
    const lines = entries.map(([key, item]) => `${pad}${pythonString(key)}: ${pythonLiteral(item, depth + 1)},`);
    return `{\n${lines.join("\n")}\n${close}}`;
  }
  // Anything else (a function, a symbol) is not JSON: its text, never code.
  return pythonString(String(value));
}

/** Python identifiers cannot be every string: a comment line is safe whatever the text (no newlines). */
function commentText(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, " ");
}

export function defaultChildName(model: Model): string {
  return `${model.name || model.run}_child`;
}

export function defaultChildLabel(model: Model): string {
  return `branched from ${model.name || model.run}`;
}

/**
 * The snippet: the parent's header dict and the child's header from `innspector_tb.branch`. Null when
 * the model has no header id (a run logged without a header cannot be a parent).
 */
export function branchSnippet(model: Model, childName?: string, childLabel?: string): string | null {
  if (!model.id) return null;
  const name = childName?.trim() || defaultChildName(model);
  const label = childLabel?.trim() || defaultChildLabel(model);
  const parent = {
    id: model.id,
    name: model.name,
    label: model.label,
    parents: model.parents ?? [],
    hparams: model.hparams ?? {},
  };
  return [
    "import innspector_tb",
    "",
    `# The header of ${commentText(model.name)} (run ${commentText(model.run)}), as logged.`,
    `parent = ${pythonLiteral(parent)}`,
    "",
    "# The child: a fresh id, this parent, the parent's hyper-parameters; pass changed ones as keywords,",
    `# e.g. innspector_tb.branch(parent, ${pythonString(name)}, label=..., learning_rate=0.0005).`,
    `child = innspector_tb.branch(parent, ${pythonString(name)}, label=${pythonString(label)})`,
    "",
    "# Train the new model with it: InnspectorCallback(log_dir, header=child, probe=(x, y)).",
    "",
  ].join("\n");
}

/** The pure part of the widget: the snippet and a row describing it. */
export function branchModelContent(model: Model, options: WidgetOptions = {}): WidgetContent & { snippet: string | null } {
  const childName = typeof options.childName === "string" ? options.childName : undefined;
  const childLabel = typeof options.childLabel === "string" ? options.childLabel : undefined;
  const snippet = branchSnippet(model, childName, childLabel);
  return {
    spec: null,
    rows: [
      {
        parent_run: model.run,
        parent_id: model.id,
        child_name: childName?.trim() || defaultChildName(model),
        child_label: childLabel?.trim() || defaultChildLabel(model),
        snippet,
      },
    ],
    snippet,
    caption: snippet ? `a child of ${model.name}` : `${model.run} has no header id`,
  };
}

/** Copies text: the clipboard API when there is one, else selects it for Ctrl+C. Resolves to what happened. */
export async function copyText(text: string, field: HTMLTextAreaElement): Promise<"copied" | "selected"> {
  const clipboard = typeof navigator !== "undefined" ? navigator.clipboard : undefined;
  if (clipboard?.writeText) {
    try {
      await clipboard.writeText(text);
      return "copied";
    } catch {
      // Denied (e.g. an iframe without clipboard permission): fall back to selecting.
    }
  }
  field.focus();
  field.select();
  return "selected";
}

function branchBody(model: Model, host: WidgetHost, content: WidgetContent & { snippet: string | null }): HTMLElement {
  const body = html("div", { class: "inn-branch" });
  if (!content.snippet) {
    html(
      "p",
      {},
      body,
      `${model.run} was logged without an iNNspector header id, so it cannot be a parent. ` +
        "Log it with innspector_tb.header(...) passed to the callback.",
    );
    return body;
  }
  html("p", {}, body, `A header for a child of ${model.name}: paste it into the new model's training script.`);
  const fields = html("div", { class: "inn-branch-fields", style: "display:flex;gap:8px;flex-wrap:wrap;margin:4px 0" }, body);
  const nameLabel = html("label", {}, fields, "name ");
  const nameInput = html("input", { type: "text", spellcheck: "false" }, nameLabel);
  nameInput.value = String(content.rows[0].child_name);
  const labelLabel = html("label", {}, fields, "label ");
  const labelInput = html("input", { type: "text" }, labelLabel);
  labelInput.value = String(content.rows[0].child_label);
  const code = html(
    "textarea",
    {
      class: "inn-code",
      readonly: "",
      spellcheck: "false",
      wrap: "off",
      style: "width:100%;box-sizing:border-box;font:11px monospace;white-space:pre",
    },
    body,
  );
  const actions = html("div", { class: "inn-branch-actions" }, body);
  const copy = html("button", { type: "button" }, actions, "Copy");
  const status = html("span", { class: "inn-small inn-muted", "aria-live": "polite", style: "margin-left:6px" }, actions);
  const show = (snippet: string) => {
    code.value = snippet;
    code.setAttribute("rows", String(Math.min(24, snippet.split("\n").length)));
  };
  show(content.snippet);
  const update = () => {
    const snippet = branchSnippet(model, nameInput.value, labelInput.value);
    if (!snippet) return;
    content.snippet = snippet;
    const row = content.rows[0];
    row.child_name = nameInput.value.trim() || defaultChildName(model);
    row.child_label = labelInput.value.trim() || defaultChildLabel(model);
    row.snippet = snippet;
    show(snippet);
    host.saveOptions({ childName: nameInput.value, childLabel: labelInput.value });
  };
  nameInput.addEventListener("input", update);
  labelInput.addEventListener("input", update);
  copy.addEventListener("click", async () => {
    const how = await copyText(code.value, code);
    status.textContent = how === "copied" ? "Copied." : "Selected: press Ctrl+C (Cmd+C) to copy.";
  });
  return body;
}

export const branchModelTool: Tool = {
  id: "branch-model",
  name: "Branch Model",
  category: "Notes",
  description: "A ready-to-paste Python header for a child of the model (innspector_tb.branch), with the parent's hyper-parameters.",
  // A branch: one node forking into two.
  icon: "M6 3a3 3 0 0 1 1 5.83v6.34A3 3 0 1 1 5 15.17V8.83A3 3 0 0 1 6 3zm12 0a3 3 0 0 1 1 5.83V10a4 4 0 0 1-4 4H9v-2h6a2 2 0 0 0 2-2V8.83A3 3 0 0 1 18 3z",
  appliesTo(unit: UnitRef): boolean {
    return unit.kind === "model" && unit.runs.length === 1;
  },
  classDependent: false,
  async load(unit, ctx, options, host) {
    const model = ctx.models.get(unit.runs[0]);
    if (!model) throw new Error(`no model ${unit.runs[0]}`);
    const content = branchModelContent(model, options);
    content.html = branchBody(model, host, content);
    return content;
  },
};
