// The workspace: widgets (a tool applied to a unit, with options), groups of widgets, and their
// order per flap. Pure transitions; saved across reloads and exported/imported as a JSON file.

import type { UnitRef, WidgetOptions } from "./types";

export interface WidgetRecord {
  id: string;
  tool: string;
  unit: UnitRef;
  options: WidgetOptions;
}

export interface GroupRecord {
  id: string;
  widgets: string[];
  /** Share the axes of compatible widgets. */
  commonScale: boolean;
  /** Show compatible widgets as one meta-widget. */
  merged: boolean;
}

export interface Workspace {
  widgets: WidgetRecord[];
  groups: GroupRecord[];
  /** Ids handed out so far: ids stay unique across removals. */
  counter: number;
}

export const emptyWorkspace: Workspace = { widgets: [], groups: [], counter: 0 };
export const WORKSPACE_VERSION = 1;

export function addWidget(ws: Workspace, tool: string, unit: UnitRef, options: WidgetOptions = {}): { workspace: Workspace; id: string } {
  const id = `w${ws.counter + 1}`;
  return { workspace: { ...ws, widgets: [...ws.widgets, { id, tool, unit, options }], counter: ws.counter + 1 }, id };
}

export function removeWidget(ws: Workspace, id: string): Workspace {
  const groups = ws.groups
    .map((g) => ({ ...g, widgets: g.widgets.filter((w) => w !== id) }))
    .filter((g) => g.widgets.length > 1); // a group of one is no group
  return { ...ws, widgets: ws.widgets.filter((w) => w.id !== id), groups };
}

export function setOptions(ws: Workspace, id: string, patch: Partial<WidgetOptions>): Workspace {
  return { ...ws, widgets: ws.widgets.map((w) => (w.id === id ? { ...w, options: { ...w.options, ...patch } } : w)) };
}

export function groupOf(ws: Workspace, widget: string): GroupRecord | undefined {
  return ws.groups.find((g) => g.widgets.includes(widget));
}

/** Drops `dragged` on `target`: they join one group (the target's, or a new one). */
export function dropOn(ws: Workspace, dragged: string, target: string): Workspace {
  if (dragged === target || !ws.widgets.some((w) => w.id === dragged) || !ws.widgets.some((w) => w.id === target)) return ws;
  const withoutDragged = ws.groups
    .map((g) => ({ ...g, widgets: g.widgets.filter((w) => w !== dragged) }))
    .filter((g) => g.widgets.length > 1 || g.widgets.includes(target));
  const existing = withoutDragged.find((g) => g.widgets.includes(target));
  if (existing) {
    return { ...ws, groups: withoutDragged.map((g) => (g === existing ? { ...g, widgets: [...g.widgets, dragged] } : g)) };
  }
  const id = `g${ws.counter + 1}`;
  return {
    ...ws,
    counter: ws.counter + 1,
    groups: [...withoutDragged.filter((g) => g.widgets.length > 1), { id, widgets: [target, dragged], commonScale: false, merged: false }],
  };
}

export function ungroup(ws: Workspace, group: string): Workspace {
  return { ...ws, groups: ws.groups.filter((g) => g.id !== group) };
}

export function setGroupFlags(ws: Workspace, group: string, flags: Partial<Pick<GroupRecord, "commonScale" | "merged">>): Workspace {
  return { ...ws, groups: ws.groups.map((g) => (g.id === group ? { ...g, ...flags } : g)) };
}

export function serializeWorkspace(ws: Workspace): string {
  return JSON.stringify({ format: "innspector-workspace", version: WORKSPACE_VERSION, workspace: ws }, null, 1);
}

export class WorkspaceError extends Error {}

const UNIT_KINDS = new Set(["experiment", "model", "layer", "variable", "activation", "neuron"]);
const LEVELS = new Set(["L3", "L2", "L1"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkUnit(u: unknown, where: string): UnitRef {
  if (!isRecord(u)) throw new WorkspaceError(`${where}: the unit must be an object`);
  if (typeof u.kind !== "string" || !UNIT_KINDS.has(u.kind)) throw new WorkspaceError(`${where}.kind: unknown unit kind ${JSON.stringify(u.kind)}`);
  if (typeof u.level !== "string" || !LEVELS.has(u.level)) throw new WorkspaceError(`${where}.level: must be L3, L2 or L1`);
  if (!Array.isArray(u.runs) || !u.runs.every((r) => typeof r === "string") || !u.runs.length) throw new WorkspaceError(`${where}.runs: a non-empty list of run names`);
  for (const field of ["layer", "variable", "key", "label"]) {
    if (u[field] !== undefined && typeof u[field] !== "string") throw new WorkspaceError(`${where}.${field}: must be a string`);
  }
  if (u.neuron !== undefined && !Number.isInteger(u.neuron)) throw new WorkspaceError(`${where}.neuron: must be an integer`);
  if (typeof u.key !== "string" || typeof u.label !== "string") throw new WorkspaceError(`${where}: key and label are required`);
  return u as unknown as UnitRef;
}

/**
 * Reads a workspace (a saved one or an imported file); malformed input throws a WorkspaceError
 * that says where, so an import never half-applies. Widgets of unknown tools are kept (their tool
 * may come back, e.g. a JSON tool folder) and shown as such.
 */
export function parseWorkspace(text: string): Workspace {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new WorkspaceError(`not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(body) || body.format !== "innspector-workspace") throw new WorkspaceError("not an iNNspector workspace file");
  if (body.version !== WORKSPACE_VERSION) throw new WorkspaceError(`workspace version ${JSON.stringify(body.version)} is not supported (expected ${WORKSPACE_VERSION})`);
  const ws = body.workspace;
  if (!isRecord(ws) || !Array.isArray(ws.widgets) || !Array.isArray(ws.groups)) throw new WorkspaceError("workspace: widgets and groups must be lists");
  const ids = new Set<string>();
  const widgets: WidgetRecord[] = ws.widgets.map((w, i) => {
    const where = `widgets[${i}]`;
    if (!isRecord(w) || typeof w.id !== "string" || typeof w.tool !== "string") throw new WorkspaceError(`${where}: needs an id and a tool`);
    if (ids.has(w.id)) throw new WorkspaceError(`${where}: duplicate id ${w.id}`);
    ids.add(w.id);
    const options = w.options === undefined ? {} : w.options;
    if (!isRecord(options)) throw new WorkspaceError(`${where}.options: must be an object`);
    return { id: w.id, tool: w.tool, unit: checkUnit(w.unit, `${where}.unit`), options: options as WidgetOptions };
  });
  const groups: GroupRecord[] = ws.groups.map((g, i) => {
    const where = `groups[${i}]`;
    if (!isRecord(g) || typeof g.id !== "string" || !Array.isArray(g.widgets)) throw new WorkspaceError(`${where}: needs an id and widgets`);
    const members = g.widgets.filter((w): w is string => typeof w === "string" && ids.has(w));
    return { id: g.id, widgets: members, commonScale: g.commonScale === true, merged: g.merged === true };
  }).filter((g) => g.widgets.length > 1);
  const counter = typeof ws.counter === "number" && Number.isInteger(ws.counter) ? ws.counter : 0;
  const highest = Math.max(0, ...[...ids, ...groups.map((g) => g.id)].map((id) => Number(id.slice(1)) || 0));
  return { widgets, groups, counter: Math.max(counter, highest) };
}
