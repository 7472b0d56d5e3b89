// The tab's state: which level is shown, what is focused, what is selected. Pure transitions,
// plus a small store that saves the state so it survives a page reload.

export type Level = "L3" | "L2" | "L1";

export interface AppState {
  level: Level;
  /** The model (run) shown at L2 and L1. */
  run: string | null;
  /** The layer shown at L1. */
  layer: string | null;
  /** Groups (nested models, blocks) opened at L2, per run. */
  openGroups: Record<string, string[]>;
  /** The unit key the view centres on and outlines ("layer:<id>" at L2, "model:<run>" at L3). */
  focus: string | null;
  /** Selected class names; null means every class. */
  classes: string[] | null;
  /** Interestingness measure colouring the units, or none. */
  measure: string | null;
  /** Unit types whose badges are shown, as "category:type" (e.g. "layer:Conv2D"). */
  localization: string[];
  /** Number of strongest weights drawn at L1. */
  k: number;
}

export const DEFAULT_K = 20;
export const MAX_K = 1000;

export const initialState: AppState = {
  level: "L3",
  run: null,
  layer: null,
  openGroups: {},
  focus: null,
  classes: null,
  measure: "abnormal", // the overview measure: anything abnormal, against sound models
  localization: [],
  k: DEFAULT_K,
};

export function showModels(state: AppState, focus: string | null = state.run ? `model:${state.run}` : null): AppState {
  return { ...state, level: "L3", focus };
}

export function showModel(state: AppState, run: string, focus: string | null = null): AppState {
  return { ...state, level: "L2", run, layer: null, focus };
}

export function showNeurons(state: AppState, layer: string): AppState {
  if (!state.run) return state;
  return { ...state, level: "L1", layer, focus: `layer:${layer}` };
}

/** Goes up to a level above the current one (breadcrumbs); going down needs a unit. */
export function ascendTo(state: AppState, level: Level): AppState {
  if (level === "L3") return showModels(state);
  if (level === "L2" && state.run) return { ...state, level: "L2", focus: state.layer ? `layer:${state.layer}` : state.focus };
  return state;
}

/** The groups open in a run's L2 view (own properties only: a run may be called "constructor"). */
export function openGroupsOf(state: AppState, run: string): string[] {
  return Object.prototype.hasOwnProperty.call(state.openGroups, run) ? state.openGroups[run] : [];
}

export function toggleGroup(state: AppState, run: string, group: string): AppState {
  const open = new Set(openGroupsOf(state, run));
  if (open.has(group)) open.delete(group);
  else open.add(group);
  return { ...state, openGroups: { ...state.openGroups, [run]: [...open].sort() } };
}

/**
 * Toggles one class. Starting from "all", toggling a class deselects it. The last selected class
 * cannot be removed (an empty selection has no data); selecting every class goes back to "all".
 */
export function toggleClass(state: AppState, name: string, all: string[]): AppState {
  const selected = new Set(state.classes ?? all);
  if (selected.has(name)) {
    if (selected.size === 1) return state;
    selected.delete(name);
  } else {
    selected.add(name);
  }
  const classes = all.filter((c) => selected.has(c));
  return { ...state, classes: classes.length === all.length ? null : classes };
}

export function selectAllClasses(state: AppState): AppState {
  return { ...state, classes: null };
}

export function toggleLocalization(state: AppState, key: string): AppState {
  const keys = new Set(state.localization);
  if (keys.has(key)) keys.delete(key);
  else keys.add(key);
  return { ...state, localization: [...keys].sort() };
}

export function setMeasure(state: AppState, measure: string | null): AppState {
  return { ...state, measure: measure || null };
}

export function setK(state: AppState, k: number): AppState {
  const value = Math.round(Number.isFinite(k) ? k : DEFAULT_K);
  return { ...state, k: Math.min(MAX_K, Math.max(1, value)) };
}

/** The breadcrumb trail for the current level: each entry is a level above or the current one. */
export function breadcrumbs(state: AppState): { level: Level; label: string }[] {
  const trail: { level: Level; label: string }[] = [{ level: "L3", label: "Models" }];
  if (state.level !== "L3" && state.run) trail.push({ level: "L2", label: state.run });
  if (state.level === "L1" && state.layer) trail.push({ level: "L1", label: `${state.layer} (neurons)` });
  return trail;
}

export function serialize(state: AppState): string {
  return JSON.stringify({ version: 1, state });
}

const isString = (v: unknown): v is string => typeof v === "string";
const stringOrNull = (v: unknown): string | null => (isString(v) ? v : null);
const stringList = (v: unknown): string[] | null => (Array.isArray(v) && v.every(isString) ? [...v] : null);

/**
 * Reads a saved state; anything missing, malformed or of another version falls back to the
 * defaults field by field, so a stale or hand-edited entry never breaks the tab.
 */
export function restore(text: string | null): AppState {
  if (!text) return { ...initialState };
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch {
    return { ...initialState };
  }
  const body = saved as { version?: unknown; state?: Record<string, unknown> };
  if (!body || body.version !== 1 || typeof body.state !== "object" || body.state === null) return { ...initialState };
  const s = body.state;
  const level: Level = s.level === "L2" || s.level === "L1" ? s.level : "L3";
  const run = stringOrNull(s.run);
  const layer = stringOrNull(s.layer);
  const openGroups: Record<string, string[]> = {};
  if (s.openGroups && typeof s.openGroups === "object") {
    for (const [key, value] of Object.entries(s.openGroups as Record<string, unknown>)) {
      const list = stringList(value);
      if (list && key !== "__proto__") openGroups[key] = list;
    }
  }
  const state: AppState = {
    level: level === "L1" && !(run && layer) ? (run ? "L2" : "L3") : level === "L2" && !run ? "L3" : level,
    run,
    layer,
    openGroups,
    focus: stringOrNull(s.focus),
    classes: s.classes === null ? null : (stringList(s.classes) ?? null),
    // Null is "no measure", chosen; a missing or wrong value falls back to the default.
    measure: s.measure === null ? null : (stringOrNull(s.measure) ?? initialState.measure),
    localization: stringList(s.localization) ?? [],
    k: typeof s.k === "number" ? setK(initialState, s.k).k : DEFAULT_K,
  };
  if (state.classes && state.classes.length === 0) state.classes = null;
  return state;
}

/** Reconciles a restored state with what the logdir holds now (runs and layers may be gone). */
export function reconcile(state: AppState, runs: string[], classes: string[]): AppState {
  let next = state;
  if (next.run && !runs.includes(next.run)) next = { ...next, level: "L3", run: null, layer: null, focus: null };
  if (next.classes) {
    const kept = next.classes.filter((c) => classes.includes(c));
    next = { ...next, classes: kept.length && kept.length < classes.length ? kept : null };
  }
  return next;
}

type Listener = (state: AppState, previous: AppState) => void;

export interface Storage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const STORAGE_KEY = "innspector-tb/state";

export class Store {
  private state: AppState;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly storage: Storage | null) {
    let saved: string | null = null;
    try {
      saved = storage?.getItem(STORAGE_KEY) ?? null;
    } catch {
      saved = null; // storage blocked (private mode, sandbox): start fresh
    }
    this.state = restore(saved);
  }

  get(): AppState {
    return this.state;
  }

  update(transition: (state: AppState) => AppState): void {
    const previous = this.state;
    const next = transition(previous);
    if (next === previous) return;
    this.state = next;
    try {
      this.storage?.setItem(STORAGE_KEY, serialize(next));
    } catch {
      // Full or blocked storage only costs persistence.
    }
    for (const listener of this.listeners) listener(next, previous);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
