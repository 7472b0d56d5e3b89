// Logged quantities (bytes, seconds, counts): a finite number or nothing, and a unit people read well.

/** The value if it is a finite number, else null. */
export function finiteNumber(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A readable unit for values of a kind, chosen from their largest magnitude: [unit, factor]. */
export function readableUnit(kind: "bytes" | "seconds" | "count", values: number[]): [string, number] {
  const top = Math.max(0, ...values.map((v) => Math.abs(v)).filter((v) => Number.isFinite(v)));
  if (kind === "bytes") {
    if (top >= 1e9) return ["GB", 1e-9];
    if (top >= 1e6) return ["MB", 1e-6];
    return ["kB", 1e-3];
  }
  if (kind === "seconds") {
    if (top >= 1) return ["s", 1];
    if (top >= 1e-5 || top === 0) return ["ms", 1e3];
    return ["µs", 1e6];
  }
  return ["", 1];
}
