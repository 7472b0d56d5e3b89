// Downloads of a widget: its chart as PNG or SVG, its rows as CSV or JSON. Pure where it can be.

/** A text cell a spreadsheet would run as a formula (= + - @, or a tab or CR first), made inert with a
 * leading apostrophe (OWASP's CSV injection advice). Numbers stay numbers: -0.5 is data, not a formula. */
export function neutralizeFormula(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** Rows to CSV: the union of their keys as columns; values quoted when they need it; objects as JSON;
 * text that a spreadsheet would take for a formula neutralised (run and layer names come from logs). */
export function toCsv(rows: Record<string, unknown>[]): string {
  const columns: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const cell = (value: unknown): string => {
    if (value === null || value === undefined) return "";
    const raw = typeof value === "object" ? JSON.stringify(value) : String(value);
    const text = typeof value === "number" || typeof value === "bigint" ? raw : neutralizeFormula(raw);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.map(cell).join(","), ...rows.map((row) => columns.map((c) => cell(row[c])).join(","))].join("\n") + "\n";
}

/** A file name from a widget's tool and unit: letters, digits, dots, dashes and underscores only. */
export function fileName(tool: string, unitLabel: string, extension: string): string {
  const base = `${tool}_${unitLabel}`.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/_+/g, "_").replace(/^_|_$/g, "");
  return `${base.slice(0, 120) || "widget"}.${extension}`;
}

export function download(name: string, url: string): void {
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
}

export function downloadText(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  download(name, url);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
