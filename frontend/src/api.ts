// The backend client: every route of the plugin, JSON in and out, errors as readable messages.

import type {
  DataAnswer,
  DataRequest,
  FeatureVisualisationsAnswer,
  GradientsAnswer,
  VocabularyAnswer,
  GraphAnswer,
  ImagesAnswer,
  InterestingnessAnswer,
  LintAllAnswer,
  LintAnswer,
  MeasuresAnswer,
  MetricsAnswer,
  MistakesAnswer,
  ModelsAnswer,
  NeuronsAnswer,
  StructuresAnswer,
  ToolsAnswer,
  TreeAnswer,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly route: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Params = Record<string, string | number | undefined | null>;
type BusyListener = (pending: string[]) => void;

const pending = new Map<number, string>();
let nextRequest = 0;
const busyListeners = new Set<BusyListener>();
const answers = new Map<string, Promise<unknown>>();

/** Called with the routes in flight whenever that set changes (drives the progress bar). */
export function onBusyChange(listener: BusyListener): () => void {
  busyListeners.add(listener);
  return () => busyListeners.delete(listener);
}

function setBusy(id: number, route: string | null) {
  if (route === null) pending.delete(id);
  else pending.set(id, route);
  const routes = [...pending.values()];
  for (const listener of busyListeners) listener(routes);
}

// The module is served at /data/plugin/innspector/index.js: routes resolve beside it.
export function routeUrl(route: string, params: Params = {}, base: string = import.meta.url): string {
  const url = new URL(route, base);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** How many times a request answered 503 (server busy) is sent again, after the Retry-After it gives. */
export const BUSY_RETRIES = 5;

/** Milliseconds to wait for a Retry-After header (seconds; 1 s to 30 s, 2 s when absent or unreadable). */
export function retryAfterMs(header: string | null): number {
  const seconds = Number(header);
  return (Number.isFinite(seconds) && header !== null && header.trim() !== "" ? Math.min(30, Math.max(1, seconds)) : 2) * 1000;
}

async function request<T>(route: string, url: string, init?: RequestInit): Promise<T> {
  const id = nextRequest++;
  setBusy(id, route);
  try {
    let response: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetch(url, init);
      } catch (error) {
        throw new ApiError(route, 0, `cannot reach TensorBoard (${(error as Error).message})`);
      }
      // 503: the server is at its bound on concurrent heavy work; it says when to come back.
      if (response.status !== 503 || attempt >= BUSY_RETRIES) break;
      await response.text();
      await new Promise((resolve) => setTimeout(resolve, retryAfterMs(response.headers.get("Retry-After"))));
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(route, response.status, `${route}: not JSON (HTTP ${response.status}): ${text.slice(0, 200)}`);
    }
    if (!response.ok) {
      const message = (body as { error?: string })?.error ?? response.statusText;
      throw new ApiError(route, response.status, message);
    }
    return body as T;
  } finally {
    setBusy(id, null);
  }
}

/** GET answers are memoised until `forget()`: the views re-read them freely. */
function get<T>(route: string, params: Params = {}): Promise<T> {
  const url = routeUrl(route, params);
  let answer = answers.get(url);
  if (!answer) {
    answer = request<T>(route, url);
    answers.set(url, answer);
    answer.catch(() => answers.delete(url));
  }
  return answer as Promise<T>;
}

/** Drops memoised answers (TensorBoard's reload, or new data). */
export function forget(): void {
  answers.clear();
}

/**
 * Each run's class names. The class selector offers the union over every model, so models with other
 * label sets (the demo's digits and its text task) share it: a request about one run carries only the
 * selected classes that run has.
 */
const runClasses = new Map<string, string[]>();

export function setRunClasses(models: { run: string; classes: string[] }[]): void {
  runClasses.clear();
  for (const model of models) runClasses.set(model.run, model.classes);
}

/** The selection narrowed to `run`'s classes: null when it keeps all of them; as given when it keeps none
 * (the server then names the classes the run has) or when the run's classes are unknown. */
export function classesForRun(run: string, selected: string[] | null | undefined): string[] | null | undefined {
  const own = runClasses.get(run);
  if (!selected || !own?.length) return selected;
  const kept = selected.filter((c) => own.includes(c));
  if (kept.length === own.length) return null;
  return kept.length ? kept : selected;
}

function withRunClasses(body: DataRequest): DataRequest {
  if (!body.classes) return body;
  const classes = classesForRun(body.run, body.classes.map(String));
  const { classes: _dropped, ...rest } = body;
  return classes ? { ...rest, classes } : rest;
}

export const api = {
  models: () => get<ModelsAnswer>("models"),
  tree: () => get<TreeAnswer>("tree"),
  graph: (run: string) => get<GraphAnswer>("graph", { run }),
  neurons: (run: string, layer: string, options: { classes?: string[] | null; k?: number; step?: string | number; keep?: number[] } = {}) =>
    get<NeuronsAnswer>("neurons", {
      run,
      layer,
      keep: options.keep?.length ? options.keep.join(",") : undefined,
      k: options.k,
      step: options.step,
      classes: classesForRun(run, options.classes)?.join(",") || undefined,
    }),
  measures: () => get<MeasuresAnswer>("interestingness/measures"),
  interestingness: (measure: string, runs?: string[], step?: string | number) =>
    get<InterestingnessAnswer>("interestingness", { measure, runs: runs?.join(","), step }),
  structures: (run?: string) => get<StructuresAnswer>("structures", { run }),
  lint: (run: string) => get<LintAnswer>("lint", { run }),
  lintAll: () => get<LintAllAnswer>("lint/all"),
  gradients: (run: string) => get<GradientsAnswer>("gradients", { run }),
  vocabulary: (run: string) => get<VocabularyAnswer>("vocabulary", { run }),
  images: (run: string) => get<ImagesAnswer>("images", { run }),
  /** The address of one logged image's bytes (an <img> loads it; not JSON). */
  imageUrl: (params: { run: string; tag: string; step: number; sample: number; series_run: string }) => routeUrl("image", params),
  mistakes: (run: string, options: { cls?: number | null; step?: number | "last" } = {}) =>
    get<MistakesAnswer>("mistakes", { run, class: options.cls ?? undefined, step: options.step }),
  featureVisualisations: (run: string, options: { layer?: string; unit?: number; cls?: number; step?: number } = {}) =>
    get<FeatureVisualisationsAnswer>("feature_visualisations", { run, layer: options.layer, unit: options.unit, class: options.cls, step: options.step }),
  tools: () => get<ToolsAnswer>("tools"),
  metrics: (runs: string[]) => get<MetricsAnswer>("metrics", { runs: runs.join(",") }),
  data: <T = DataAnswer>(body: DataRequest) =>
    request<T>("data", routeUrl("data"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(withRunClasses(body)),
    }),
};
