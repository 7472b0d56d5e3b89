// Note: a markdown note on any unit, saved with the workspace. The preview is rendered by a small,
// safe markdown subset: every character of the input is escaped, then headings, paragraphs, bold,
// italic, code, fenced code blocks, bullet lists and http(s) links are added as markup.

import { html } from "../../svg";
import type { Tool, UnitRef, WidgetContent, WidgetHost, WidgetOptions } from "../types";

export const SAVE_DELAY_MS = 300;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Bold and italic on already escaped text (escaping never makes a `*`). */
function emphasis(escaped: string): string {
  return escaped
    .replace(/\*\*(?=\S)([^*]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/\*(?=\S)([^*]*?\S)\*/g, "<em>$1</em>");
}

const SAFE_URL = /^https?:\/\/[^\s<>"'`]+$/i;

/** Inline markup of one block's raw text: code spans and links first, then emphasis around them. */
export function renderInline(raw: string): string {
  const pattern = /`([^`\n]+)`|\[([^\]\n]+)\]\(([^()\s]*)\)/g;
  let out = "";
  let last = 0;
  for (let match = pattern.exec(raw); match; match = pattern.exec(raw)) {
    out += emphasis(escapeHtml(raw.slice(last, match.index)));
    if (match[1] !== undefined) {
      out += `<code>${escapeHtml(match[1])}</code>`;
    } else if (SAFE_URL.test(match[3])) {
      out += `<a href="${escapeHtml(match[3])}" rel="noopener noreferrer" target="_blank">${emphasis(escapeHtml(match[2]))}</a>`;
    } else {
      // Not an http(s) link (javascript:, data:, relative...): the source stays text.
      out += emphasis(escapeHtml(match[0]));
    }
    last = match.index + match[0].length;
  }
  return out + emphasis(escapeHtml(raw.slice(last)));
}

/** Markdown (a safe subset) to HTML; the input's own markup is always shown as text. */
export function renderMarkdown(text: string): string {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const out: string[] = [];
  let paragraph: string[] = [];
  let list: string[] = [];
  const flush = () => {
    if (paragraph.length) out.push(`<p>${renderInline(paragraph.join("\n"))}</p>`);
    if (list.length) out.push(`<ul>${list.map((item) => `<li>${renderInline(item)}</li>`).join("")}</ul>`);
    paragraph = [];
    list = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*```\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      const language = fence[1] ? ` class="language-${escapeHtml(fence[1])}"` : "";
      out.push(`<pre><code${language}>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,3})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      flush();
      const level = heading[1].length;
      out.push(`<h${level}>${renderInline(heading[2])}</h${level}>`);
      continue;
    }
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (bullet) {
      if (paragraph.length) {
        out.push(`<p>${renderInline(paragraph.join("\n"))}</p>`);
        paragraph = [];
      }
      list.push(bullet[1]);
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    if (list.length && /^\s+\S/.test(line)) {
      // An indented line continues the list item above it.
      list[list.length - 1] += "\n" + line.trim();
      continue;
    }
    if (list.length) flush();
    paragraph.push(line);
  }
  flush();
  return out.join("\n");
}

/** Calls `fn` once calls have stopped for `delay` ms; `flush()` runs a pending call now. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, delay: number) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let pending: A | null = null;
  const run = () => {
    timer = null;
    if (pending) {
      const args = pending;
      pending = null;
      fn(...args);
    }
  };
  const call = (...args: A) => {
    pending = args;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(run, delay);
  };
  call.flush = () => {
    if (timer !== null) clearTimeout(timer);
    run();
  };
  return call;
}

/** The pure part of the widget: the note's row (what downloads contain). */
export function noteContent(unit: UnitRef, options: WidgetOptions): WidgetContent {
  const text = typeof options.text === "string" ? options.text : "";
  return { spec: null, rows: [{ unit: unit.label, key: unit.key, text }] };
}

function noteBody(content: WidgetContent, host: WidgetHost): HTMLElement {
  const row = content.rows[0];
  const body = html("div", { class: "inn-note" });
  const editor = html("textarea", {
    class: "inn-note-text",
    rows: 6,
    placeholder: "Markdown: # heading, **bold**, *italic*, `code`, - list, [link](https://...)",
    "aria-label": "note (markdown)",
    style: "width:100%;box-sizing:border-box;font:12px monospace",
  }, body);
  editor.value = String(row.text ?? "");
  const preview = html("div", { class: "inn-note-preview", style: "overflow-wrap:anywhere;font-size:12px" }, body);
  // renderMarkdown escapes every character of the text before adding its own markup.
  const show = (text: string) => {
    preview.innerHTML = renderMarkdown(text);
  };
  show(editor.value);
  const save = debounce((text: string) => host.saveOptions({ text }), SAVE_DELAY_MS);
  editor.addEventListener("input", () => {
    row.text = editor.value;
    show(editor.value);
    save(editor.value);
  });
  editor.addEventListener("blur", () => save.flush());
  return body;
}

export const noteTool: Tool = {
  id: "note",
  plainRuns: true,
  name: "Note",
  category: "Notes",
  description: "A markdown note on the unit, saved with the workspace.",
  // A sheet with a folded corner and lines of text.
  icon: "M6 2h9l5 5v15H4V2h2zm8 1.5V8h4.5L14 3.5zM7 11v1.5h10V11H7zm0 3.5V16h10v-1.5H7zm0 3.5v1.5h7V18H7z",
  appliesTo(): boolean {
    return true;
  },
  classDependent: false,
  async load(unit, _ctx, options, host) {
    const content = noteContent(unit, options);
    content.html = noteBody(content, host);
    return content;
  },
};
