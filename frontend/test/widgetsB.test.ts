// Unit tests of the Weights/Activations tools (widgets/tools: histogram, distribution, kernelImages,
// activationMaps, featureDistribution, projection, statistics, neuronsByClasses): the requests each tool
// sends, the pure mapping of answers (fixtures recorded from the demo logdir, rounded) to rows and specs,
// and every spec compiled by Vega-Lite and rendered by Vega in node, counting its marks.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import * as vega from "vega";
import { expressionInterpreter } from "vega-interpreter";
import { compile, type TopLevelSpec } from "vega-lite";

import type { Architecture, DataAnswer, DataRequest, Model } from "../src/types";
import type { Tool, ToolContext, UnitRef, WidgetContent, WidgetHost } from "../src/widgets/types";
import {
  binEdges,
  histogramContent,
  histogramRequest,
  histogramTool,
  mergeHistograms,
  rangeRequest,
  stepsHistogramRequest,
} from "../src/widgets/tools/histogram";
import { keptSamples } from "../src/widgets/tools/shared/classes";
import { seriesColorScale } from "../src/widgets/tools/shared/seriesColors";
import { evenSample, withStepBudget } from "../src/widgets/tools/shared/steps";
import { distributionContent, distributionRequest, distributionSteps, distributionTool, mergeDistributions } from "../src/widgets/tools/distribution";
import { kernelImagesContent, kernelImagesRequest, kernelImagesTool, kernelVariable } from "../src/widgets/tools/kernelImages";
import { activationMapsContent, activationMapsRequests, activationMapsTool, mapStride } from "../src/widgets/tools/activationMaps";
import {
  featureDistributionContent,
  featureDistributionRequest,
  featureDistributionTool,
  mergeFeatureDistributions,
} from "../src/widgets/tools/featureDistribution";
import { projectionContent, projectionReduce, projectionRequests, projectionTool } from "../src/widgets/tools/projection";
import { statisticsContent, statisticsRequest, statisticsTool } from "../src/widgets/tools/statistics";
import { gradientFlowTool } from "../src/widgets/tools/gradientFlow";
import {
  matrixRequest,
  neuronReduce,
  neuronsByClassesContent,
  neuronsByClassesTool,
  pickedNeurons,
  spreadRequest,
} from "../src/widgets/tools/neuronsByClasses";

// ----------------------------------------------------------------------------------------------------
// Fixtures: answers of the `data` route on the demo logdir (numbers rounded to 4 significant digits).
// ----------------------------------------------------------------------------------------------------

const HIST: DataAnswer = {"run":"cnn_skip","unit":{"kind":"weights","layer":"conv_1","variable":"kernel"},"steps":[3],"result":{"value":{"edges":[-0.2858,-0.2665,-0.2473,-0.228,-0.2087,-0.1894,-0.1702,-0.1509,-0.1316,-0.1124,-0.0931,-0.07383,-0.05456,-0.03529,-0.01602,0.003245,0.02251,0.04178,0.06105,0.08032,0.09959,0.1189,0.1381,0.1574,0.1767,0.1959,0.2152,0.2345,0.2537,0.273,0.2923],"counts":[2,0,0,4,0,4,4,7,5,6,5,4,5,6,9,4,11,8,4,2,5,6,3,5,4,8,11,4,3,5],"dropped":0,"nonfinite":0,"below":0,"above":0}}};
const HIST_STEPS: DataAnswer = {"run":"cnn_skip","unit":{"kind":"weights","layer":"conv_1","variable":"kernel"},"steps":[0,1,2,3],"result":{"s0":{"edges":[-0.3,-0.28,-0.26,-0.24,-0.22,-0.2,-0.18,-0.16,-0.14,-0.12,-0.1,-0.08,-0.06,-0.04,-0.02,0.0,0.02,0.04,0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2,0.22,0.24,0.26,0.28,0.3],"counts":[0,0,0,0,0,6,5,3,15,6,8,8,10,11,5,8,7,5,5,7,7,11,9,2,6,0,0,0,0,0],"dropped":0,"nonfinite":0,"below":0,"above":0},"s1":{"edges":[-0.3,-0.28,-0.26,-0.24,-0.22,-0.2,-0.18,-0.16,-0.14,-0.12,-0.1,-0.08,-0.06,-0.04,-0.02,0.0,0.02,0.04,0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2,0.22,0.24,0.26,0.28,0.3],"counts":[0,0,0,1,2,2,4,6,9,8,10,4,9,9,11,7,5,8,2,6,6,8,8,10,3,5,1,0,0,0],"dropped":0,"nonfinite":0,"below":0,"above":0},"s2":{"edges":[-0.3,-0.28,-0.26,-0.24,-0.22,-0.2,-0.18,-0.16,-0.14,-0.12,-0.1,-0.08,-0.06,-0.04,-0.02,0.0,0.02,0.04,0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2,0.22,0.24,0.26,0.28,0.3],"counts":[0,1,1,0,2,2,5,3,6,9,7,5,8,4,9,7,14,2,4,6,4,3,6,5,11,9,5,4,2,0],"dropped":0,"nonfinite":0,"below":0,"above":0},"s3":{"edges":[-0.3,-0.28,-0.26,-0.24,-0.22,-0.2,-0.18,-0.16,-0.14,-0.12,-0.1,-0.08,-0.06,-0.04,-0.02,0.0,0.02,0.04,0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2,0.22,0.24,0.26,0.28,0.3],"counts":[2,0,0,1,3,1,7,5,3,5,8,6,3,7,8,6,9,10,4,2,6,5,3,5,5,9,10,3,7,1],"dropped":0,"nonfinite":0,"below":0,"above":0}}};
const QUANTILES: DataAnswer = {"run":"cnn_skip","unit":{"kind":"weights","layer":"conv_1","variable":"kernel"},"steps":[0,1,2,3],"result":{"value":{"shape":[5,4],"dtype":"float32","data":[[-0.1711,-0.1655,-0.1716,-0.1788],[-0.09965,-0.08731,-0.07714,-0.07557],[-0.02034,-0.007858,0.02301,0.03444],[0.09918,0.1176,0.1558,0.1713],[0.1629,0.1917,0.2374,0.2605]]}}};
const CONV_KERNEL: DataAnswer = {"run":"cnn_skip","unit":{"kind":"weights","layer":"conv_1","variable":"kernel"},"steps":[3],"result":{"value":{"shape":[16,3,3],"dtype":"float32","data":[[[0.2004,0.0637,-0.09869],[0.04069,-0.03901,0.2297],[0.1375,0.2194,0.2713]],[[0.1269,-0.04668,-0.03234],[0.2187,-0.05183,-0.1122],[0.04323,0.2635,0.1499]],[[-0.1643,-0.1124,-0.174],[0.04363,0.004442,-0.096],[-0.0004452,0.05246,0.2239]],[[0.2102,-0.0007884,0.2269],[0.008435,0.226,-0.09052],[0.2534,0.04105,0.0008764]],[[-0.214,-0.02444,0.274],[-0.1619,0.04745,0.2472],[0.02701,0.1646,0.1128]],[[-0.09753,0.09909,0.06927],[-0.1508,-0.1405,0.1194],[-0.08333,0.1484,0.2386]],[[-0.07343,0.05838,-0.03686],[0.2785,-0.01669,0.2077],[-0.1307,-0.1463,0.06316]],[[-0.1195,0.2139,0.2617],[-0.2802,0.02993,0.2799],[-0.2205,0.0331,-0.001424]],[[0.1752,-0.02571,-0.006989],[0.03998,-0.133,-0.1366],[0.1964,-0.0853,-0.1682]],[[-0.06632,-0.07683,-0.1465],[-0.07514,0.005894,0.1227],[0.129,0.1812,0.2218]],[[0.02869,0.2107,0.2274],[-0.00866,0.2117,0.1817],[0.001492,0.2755,0.03286]],[[-0.01435,0.1699,-0.1638],[-0.1837,0.02786,0.1162],[-0.006656,0.137,0.112]],[[-0.07328,-0.1153,0.1861],[-0.1159,0.03214,-0.04457],[0.0596,0.1127,0.01778]],[[0.2486,0.07507,-0.2092],[0.2228,0.17,-0.09942],[0.194,0.05825,-0.1412]],[[-0.2858,-0.2098,0.08513],[0.05596,0.1666,0.2313],[-0.09535,0.1115,0.2241]],[[0.03577,0.1444,-0.1796],[0.2923,-0.1705,-0.02765],[0.2065,-0.07358,-0.02564]]]}}};
const MAP_SAMPLES: DataAnswer = {"run":"cnn_nested","unit":{"kind":"activations","layer":"features/pool"},"steps":[3],"classes":[1,2],"class_dependent":true,"result":{"value":{"shape":[6,4,4],"dtype":"float32","data":[[[0.2341,0.2197,0.07344,0.03201],[0.07919,0.1105,0.04815,0.06934],[0.05206,0.0,0.03831,0.1071],[0.2121,0.3129,0.3047,0.1275]],[[0.1259,0.002769,0.0,0.05206],[0.2114,0.159,0.0,0.05206],[0.05206,0.0,0.04756,0.05206],[0.2588,0.3369,0.2924,0.142]],[[0.06806,0.0,0.05206,0.05206],[0.2235,0.1364,0.0,0.05206],[0.1084,0.1727,0.0,0.05206],[0.1734,0.2723,0.3248,0.2365]],[[0.05206,0.0,0.0,0.02633],[0.2069,0.1512,0.1356,0.02289],[0.08661,0.09232,0.0571,0.03666],[0.05206,0.1442,0.2642,0.1351]],[[0.05206,0.0,0.0,0.05206],[0.05206,0.0,0.0,0.05206],[0.1334,0.0,0.0,0.05206],[0.2199,0.2677,0.228,0.1134]],[[0.08073,0.0,0.05206,0.05206],[0.2321,0.03946,0.007013,0.05206],[0.1288,0.1395,0.0,0.05206],[0.225,0.2943,0.3199,0.2178]]]},"label":{"shape":[14],"dtype":"int64","data":[2,2,1,1,1,1,2,1,2,1,1,2,2,2]}}};
const MAP_MEANS: DataAnswer = {"run":"cnn_nested","unit":{"kind":"class_means","layer":"features/pool"},"steps":[3],"classes":["1","2"],"result":{"value":{"shape":[2,4,4],"dtype":"float32","data":[[[0.05832,0.007436,0.01487,0.05266],[0.1498,0.06431,0.02389,0.05991],[0.1097,0.07224,0.01359,0.05035],[0.1703,0.2531,0.2307,0.1295]],[[0.1411,0.09605,0.01981,0.05068],[0.115,0.1406,0.08149,0.08055],[0.0549,0.0194,0.05162,0.05453],[0.2009,0.2951,0.2601,0.1457]]]}}};
const LABELS = {"run":"cnn_nested","unit":{"kind":"labels"},"classes":[0,1,2,3,4,5,6,7,8,9],"class_dependent":true,"result":{"value":{"shape":[64],"dtype":"int64","data":[8,7,5,3,8,2,0,5,7,9,2,8,0,0,5,8,4,6,4,5,5,6,1,1,3,0,4,7,6,8,4,3,3,3,4,1,9,1,9,3,2,6,4,8,7,6,0,0,3,9,1,2,1,9,1,6,5,7,0,7,2,9,2,2]},"label":{"shape":[64],"dtype":"int64","data":[8,7,5,3,8,2,0,5,7,9,2,8,0,0,5,8,4,6,4,5,5,6,1,1,3,0,4,7,6,8,4,3,3,3,4,1,9,1,9,3,2,6,4,8,7,6,0,0,3,9,1,2,1,9,1,6,5,7,0,7,2,9,2,2]}}} as unknown as DataAnswer;
const KDE: DataAnswer = {"run":"vae_fixed","unit":{"kind":"activations","layer":"z_mean"},"steps":[3],"classes":[1,2],"class_dependent":true,"result":{"value":{"columns":[{"x":[-2.296,-2.183,-2.07,-1.957,-1.844,-1.731,-1.618,-1.505,-1.392,-1.279,-1.166,-1.053,-0.9399,-0.827,-0.714,-0.601,-0.4881,-0.3751,-0.2621,-0.1491],"density":[0.001773,0.009708,0.0362,0.09462,0.1872,0.3244,0.5489,0.8536,1.096,1.142,1.041,0.9203,0.8112,0.6821,0.52,0.3352,0.1676,0.06073,0.01535,0.002656],"bandwidth":0.1791,"samples":14,"column":0},{"x":[-0.6422,-0.5324,-0.4225,-0.3127,-0.2028,-0.09301,0.01683,0.1267,0.2365,0.3464,0.4562,0.566,0.6759,0.7857,0.8956,1.005,1.115,1.225,1.335,1.445],"density":[0.00362,0.01911,0.07199,0.1947,0.3817,0.5551,0.6317,0.637,0.686,0.8449,1.055,1.174,1.092,0.8267,0.5111,0.261,0.1097,0.03683,0.009495,0.001816],"bandwidth":0.1861,"samples":14,"column":1}]},"label":{"shape":[14],"dtype":"int64","data":[2,2,1,1,1,1,2,1,2,1,1,2,2,2]}}};
const KDE_CARELESS: DataAnswer = {"run":"vae_careless","unit":{"kind":"activations","layer":"z_mean"},"steps":[3],"classes":[1,2],"class_dependent":true,"result":{"value":{"columns":[{"note":"constant column (every value is 0.0): no density","column":0},{"x":[0.3899,0.5137,0.6376,0.7614,0.8853,1.009,1.133,1.257,1.381,1.505,1.628,1.752,1.876,2.0,2.124,2.248,2.372,2.495,2.619,2.743],"density":[0.00171,0.009863,0.03907,0.1098,0.2326,0.4065,0.6294,0.862,1.007,1.016,0.9465,0.8487,0.7117,0.5351,0.3577,0.2098,0.1012,0.03683,0.009477,0.001667],"bandwidth":0.1935,"samples":14,"column":1}]},"label":{"shape":[14],"dtype":"int64","data":[2,2,1,1,1,1,2,1,2,1,1,2,2,2]}}};
const PCA: DataAnswer = {"run":"cnn_skip","unit":{"kind":"activations","layer":"dense_hidden"},"steps":[3],"classes":[1,3],"class_dependent":true,"result":{"value":{"coordinates":{"shape":[14,2],"dtype":"float64","data":[[-4.545,2.006],[3.307,-5.39],[-3.328,2.008],[-3.985,-2.029],[-3.703,-2.44],[-2.686,-2.185],[-5.787,1.356],[6.749,1.593],[4.81,-5.415],[-0.3377,2.843],[-5.969,0.487],[6.224,3.232],[4.912,0.8014],[4.339,3.135]]},"explained_variance_ratio":[0.5675,0.218],"method":"exact","samples_used":14},"label":{"shape":[14],"dtype":"int64","data":[3,1,1,3,3,3,3,1,1,3,3,1,1,1]}}};
const STATS: DataAnswer = {"run":"cnn_skip","unit":{"kind":"statistics","unit":"conv_1/kernel"},"steps":[0,1,2,3],"fields":["count","finite_count","nan_count","inf_count","min","max","mean","std","skew","kurtosis","mean_abs","l2_norm","zero_fraction"],"result":{"value":{"shape":[4,13],"dtype":"float64","data":[[144.0,144.0,0.0,0.0,-0.1941,0.1942,-0.005101,0.1109,0.1201,-1.193,0.09664,1.332,0.0],[144.0,144.0,0.0,0.0,-0.2334,0.2255,0.007631,0.1177,0.07351,-1.105,0.1005,1.416,0.0],[144.0,144.0,0.0,0.0,-0.2703,0.2714,0.03226,0.1343,-0.02248,-1.029,0.1153,1.658,0.0],[144.0,144.0,0.0,0.0,-0.2858,0.2923,0.04087,0.1445,-0.0807,-1.009,0.1253,1.802,0.0]]}}};
const CLASS_MEANS: DataAnswer = {"run":"cnn_skip","unit":{"kind":"class_means","layer":"dense_hidden"},"steps":[3],"classes":["1","2","7"],"result":{"value":{"shape":[3,32],"dtype":"float32","data":[[3.381,3.184,2.443,0.0,2.981,0.0,3.825,0.0,1.545,0.0,1.87,0.3754,1.445,3.92,4.418,1.536,3.482,0.0,2.456,0.0,1.682,4.399,2.139,1.032,4.801,0.2735,1.265,1.397,0.5253,2.295,0.0,2.328],[2.796,2.671,2.12,0.0,4.78,0.0,2.124,0.0,3.264,0.0,3.728,1.481,1.118,3.259,5.549,0.07604,4.055,0.0,1.525,0.0,0.5132,2.977,1.974,0.494,4.585,0.1138,2.264,2.864,0.9425,2.365,0.0,0.9587],[1.109,3.401,2.104,0.0,3.884,0.0,4.552,0.0,4.84,0.0,2.015,0.2125,2.156,3.19,2.567,0.9242,5.565,0.0,3.709,0.0,0.3393,1.181,3.229,0.5418,1.849,0.02319,1.195,3.788,0.8999,2.677,0.0,1.662]]}}};
const SPREAD: DataAnswer = {"run":"cnn_skip","unit":{"kind":"class_means","layer":"flatten"},"steps":[3],"classes":["0","1","2","3","4","5","6","7","8","9"],"result":{"value":{"values":{"shape":[64],"dtype":"float32","data":[0.5817,0.565,0.5628,0.5548,0.5214,0.5208,0.5199,0.5097,0.5044,0.4978,0.4832,0.4733,0.472,0.4663,0.4599,0.459,0.4549,0.4538,0.4506,0.4465,0.4464,0.4448,0.4435,0.4433,0.4402,0.4335,0.4275,0.4232,0.4217,0.4211,0.4204,0.4199,0.4134,0.4078,0.4055,0.4054,0.4048,0.4022,0.3975,0.3971,0.3958,0.3929,0.3909,0.3837,0.3824,0.3822,0.3811,0.3795,0.3682,0.3662,0.366,0.3648,0.3601,0.358,0.3566,0.3558,0.3534,0.3527,0.3521,0.3507,0.3495,0.3478,0.3478,0.3436]},"indices":{"shape":[64],"dtype":"int64","data":[154,103,106,228,234,78,138,95,148,111,231,39,218,158,135,80,42,122,236,170,7,10,175,167,156,186,94,4,71,225,14,224,90,100,74,151,160,132,68,92,208,113,63,238,144,145,81,58,161,164,250,209,172,89,33,96,84,215,212,159,169,87,177,101]}}}};

// ----------------------------------------------------------------------------------------------------
// Helpers: units, a context with a mocked api, and rendering in node.
// ----------------------------------------------------------------------------------------------------

const CLASS_NAMES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

function unit(kind: UnitRef["kind"], run: string, layer: string, extra: Partial<UnitRef> = {}): UnitRef {
  return { kind, level: "L2", runs: [run], layer, key: `layer:${layer}`, label: `${run} / ${layer}`, ...extra };
}

function layer(id: string, type: string, output: (number | null)[], variables: [string, number[]][] = []) {
  return {
    id,
    name: id.split("/").pop()!,
    type,
    module: "keras.layers",
    namespace: "",
    custom: false,
    is_input: type === "InputLayer",
    calls: 1,
    config: {},
    input_shapes: [],
    output_shapes: [output],
    params: { trainable: 0, non_trainable: 0 },
    variables: variables.map(([name, shape]) => ({ name, shape })),
    inner: { nodes: [], edges: [] },
  };
}

// The architecture of cnn_skip as the graph route gives it (layers only).
const CNN_SKIP: Architecture = {
  format_version: 1,
  layers: [
    layer("image", "InputLayer", [null, 8, 8, 1]),
    layer("conv_1", "Conv2D", [null, 8, 8, 16], [["kernel", [3, 3, 1, 16]], ["bias", [16]]]),
    layer("conv_2", "Conv2D", [null, 8, 8, 16], [["kernel", [3, 3, 16, 16]], ["bias", [16]]]),
    layer("skip_add", "Add", [null, 8, 8, 16]),
    layer("pool", "MaxPooling2D", [null, 4, 4, 16]),
    layer("flatten", "Flatten", [null, 256]),
    layer("dense_hidden", "Dense", [null, 32], [["kernel", [256, 32]], ["bias", [32]]]),
    layer("classifier", "Dense", [null, 10], [["kernel", [32, 10]], ["bias", [10]]]),
  ],
  edges: [],
  inputs: ["image"],
  outputs: [{ layer: "classifier", output_index: 0 }],
  namespaces: [],
  model: { class: "Functional", functional: true, name: "cnn_skip", notes: [] },
  params: { trainable: 0, non_trainable: 0 },
};

function model(run: string, steps: number[]): Model {
  return {
    run, id: run, name: run, label: run, parents: [], hparams: {}, steps, params: null, runtime: null, layer_count: 8,
    classes: CLASS_NAMES, glyph: [], attributions: null, latest_metrics: {}, errors: [], plain: false, series_runs: [run],
  };
}

/** A context whose api answers from `answer(request)` and records every request. */
function context(answer: (request: DataRequest) => DataAnswer, classes: string[] | null = null) {
  const requests: DataRequest[] = [];
  const graph = Promise.resolve(CNN_SKIP);
  const ctx = {
    models: new Map([["cnn_skip", model("cnn_skip", [0, 1, 2, 3])], ["cnn_wide", model("cnn_wide", [0, 1, 2, 3])]]),
    graph: () => graph,
    classes,
    allClasses: CLASS_NAMES,
    colors: new Map([["cnn_skip", "#76b7b2"], ["cnn_wide", "#59a14f"], ["vae_fixed", "#f28e2b"], ["vae_careless", "#e15759"]]),
    api: {
      data: async (request: DataRequest) => {
        requests.push(structuredClone(request));
        return structuredClone(answer(request));
      },
    },
  } as unknown as ToolContext;
  return { ctx, requests };
}

const host: WidgetHost = { saveOptions() {}, reload() {}, showSamples() {}, open() {}, jump() {}, selectSample() {} };

async function render(content: WidgetContent): Promise<vega.View> {
  assert.ok(content.spec, "a chart spec");
  const compiled = compile(content.spec as TopLevelSpec).spec;
  assert.ok(compiled.data?.some((d) => d.name === "table"), "the spec reads the dataset 'table'");
  const view = new vega.View(vega.parse(compiled, undefined, { ast: true }), {
    expr: expressionInterpreter as unknown as vega.ViewOptions["expr"],
    renderer: "none",
  });
  view.data("table", content.rows);
  await view.runAsync();
  const svg = await view.toSVG();
  assert.match(svg, /^<svg/);
  return view;
}

interface SceneMark {
  marktype: string;
  role?: string;
  name?: string;
  items: (Record<string, unknown> & { items?: SceneMark[] })[];
}

/** Every data mark (role "mark") of a type in the scenegraph, facets included. */
function dataMarks(view: vega.View, marktype: string): SceneMark[] {
  const found: SceneMark[] = [];
  const visit = (mark: SceneMark) => {
    if (mark.marktype === marktype && mark.role === "mark") found.push(mark);
    for (const item of mark.items ?? []) for (const child of item.items ?? []) visit(child);
  };
  visit((view.scenegraph() as unknown as { root: SceneMark }).root);
  return found;
}

function itemsOf(view: vega.View, marktype: string): Record<string, unknown>[] {
  return dataMarks(view, marktype).flatMap((m) => m.items);
}

/** The number of distinct values of a field among the items' data. */
function distinct(items: Record<string, unknown>[], field: string): number {
  return new Set(items.map((i) => (i.datum as Record<string, unknown>)[field])).size;
}

const json = (spec: unknown) => JSON.stringify(spec);

// ----------------------------------------------------------------------------------------------------
// Histogram
// ----------------------------------------------------------------------------------------------------

describe("histogram", () => {
  const kernel = unit("variable", "cnn_skip", "conv_1", { variable: "kernel" });

  it("asks for 30 bins at the last step, or 30 equal bins over a common domain", () => {
    const plain = histogramRequest(kernel, {}, ["1"]);
    assert.deepEqual(plain, { run: "cnn_skip", unit: { kind: "weights", layer: "conv_1", variable: "kernel" }, steps: "last", transform: [{ op: "histogram", bins: 30 }] });
    const shared = histogramRequest(kernel, { xDomain: [-0.3, 0.3], step: 2 }, null);
    const edges = (shared.transform![0] as { edges: number[] }).edges;
    assert.equal(shared.steps, 2);
    assert.equal(edges.length, 31);
    assert.equal(edges[0], -0.3);
    assert.equal(edges[30], 0.3);
    assert.ok(Math.abs(edges[15]) < 1e-12);
  });

  it("passes the classes for activations only and selects a neuron first", () => {
    const acts = histogramRequest(unit("activation", "cnn_skip", "conv_1"), {}, ["1", "2"]);
    assert.deepEqual(acts.classes, ["1", "2"]);
    assert.deepEqual(acts.unit, { kind: "activations", layer: "conv_1" });
    assert.equal(histogramRequest(kernel, {}, ["1", "2"]).classes, undefined);
    const neuron = histogramRequest(unit("neuron", "cnn_skip", "dense_hidden", { neuron: 4 }), {}, null);
    assert.deepEqual(neuron.transform, [{ op: "select", indices: [4], axis: -1 }, { op: "histogram", bins: 30 }]);
    assert.equal(neuron.classes, undefined);
  });

  it("bins every step with common edges in one pipeline within the 32-op limit", () => {
    const steps = evenSample(Array.from({ length: 250 }, (_, i) => i), 12);
    assert.equal(steps.length, 12);
    assert.equal(steps[0], 0);
    assert.equal(steps[11], 249);
    const request = stepsHistogramRequest(unit("neuron", "cnn_skip", "dense_hidden", { neuron: 1 }), steps, binEdges(0, 1, 30), ["3"]);
    assert.ok(request.transform!.length <= 32, `${request.transform!.length} ops`);
    assert.deepEqual(request.steps, steps);
    assert.deepEqual(request.classes, ["3"]);
    assert.deepEqual(request.transform!.at(-1), { op: "select_columns", columns: steps.map((_, i) => `s${i}`) });
    assert.deepEqual(request.transform![3], { op: "histogram", in: "s0", edges: binEdges(0, 1, 30) });
    const range = rangeRequest(kernel, [0, 3], null);
    assert.deepEqual(range.transform!.map((t) => t.op), ["min", "max", "select_columns"]);
  });

  it("maps one histogram to 30 bars with a 'step N' caption and its extents", async () => {
    const content = histogramContent(HIST, kernel, {}, { run: "cnn_skip", color: "#76b7b2" });
    assert.equal(content.rows.length, 30);
    assert.equal(content.rows.reduce((n, r) => n + (r.count as number), 0), 144);
    assert.equal(content.caption, "step 3");
    assert.equal(content.seriesField, "series");
    assert.equal(content.rows[0].series, "cnn_skip step 3");
    assert.deepEqual(content.extents, { x: [-0.2858, 0.2923], y: [0, 11] });
    assert.equal(content.rows[29].hi, 0.2923);
    const view = await render(content);
    const bars = itemsOf(view, "rect");
    assert.equal(bars.length, 30);
    assert.ok(bars.every((b) => b.fill === "#76b7b2"), "the model's colour");
  });

  it("honours the common domains of a group", async () => {
    const content = histogramContent(HIST, kernel, { xDomain: [-0.5, 0.5], yDomain: [0, 40] }, { run: "cnn_skip", color: "#76b7b2" });
    const encoding = (content.spec as unknown as { encoding: Record<string, { scale: { domain: number[] } }> }).encoding;
    assert.deepEqual(encoding.x.scale.domain, [-0.5, 0.5]);
    assert.deepEqual(encoding.y.scale.domain, [0, 40]);
    const view = await render(content);
    assert.deepEqual(view.scale("x").domain(), [-0.5, 0.5]);
    assert.deepEqual(view.scale("y").domain(), [0, 40]);
  });

  it("maps the histograms of every step to a heatmap step x bin", async () => {
    const content = histogramContent(HIST_STEPS, kernel, { step: "all" }, { run: "cnn_skip", color: "#76b7b2", series: "cnn_skip", totalSteps: 4 });
    assert.equal(content.rows.length, 4 * 30);
    assert.deepEqual([...new Set(content.rows.map((r) => r.step))], [0, 1, 2, 3]);
    for (const step of [0, 1, 2, 3]) assert.equal(content.rows.filter((r) => r.step === step).reduce((n, r) => n + (r.count as number), 0), 144);
    assert.match(content.caption!, /^steps 0–3/);
    assert.deepEqual(content.extents, { x: [-0.3, 0.3] });
    const view = await render(content);
    const cells = itemsOf(view, "rect");
    assert.equal(cells.length, 120);
    assert.equal(view.scale("y").domain().length, 4);
    // Empty bins are blank.
    assert.equal(cells.filter((c) => c.opacity === 0).length, content.rows.filter((r) => r.count === 0).length);
  });

  it("merges histograms of two models, overlaid with a colour per series", async () => {
    const a = histogramContent(HIST, kernel, {}, { run: "cnn_skip", color: "#76b7b2" });
    const wide = unit("variable", "cnn_wide", "conv_1", { variable: "kernel" });
    const b = histogramContent({ ...HIST, run: "cnn_wide", steps: [0] }, wide, {}, { run: "cnn_wide", color: "#59a14f" });
    const merged = mergeHistograms([{ unit: kernel, content: a }, { unit: wide, content: b }]);
    assert.equal(merged.rows.length, 60);
    assert.equal(merged.seriesField, "series");
    assert.deepEqual([...new Set(merged.rows.map((r) => r.series))], ["cnn_skip step 3", "cnn_wide step 0"]);
    assert.deepEqual((merged.spec as unknown as { encoding: { color: { scale: unknown } } }).encoding.color.scale, { domain: ["cnn_skip step 3", "cnn_wide step 0"], range: ["#76b7b2", "#59a14f"] });
    const view = await render(merged);
    const bars = itemsOf(view, "rect");
    assert.equal(bars.length, 60);
    assert.deepEqual(new Set(bars.map((b) => b.fill)), new Set(["#76b7b2", "#59a14f"]));
  });

  it("gives two steps of one model distinct colours when merged", () => {
    const s0 = histogramContent({ ...HIST, steps: [0] }, kernel, {}, { run: "cnn_skip", color: "#76b7b2" });
    const s3 = histogramContent(HIST, kernel, {}, { run: "cnn_skip", color: "#76b7b2" });
    const merged = mergeHistograms([{ unit: kernel, content: s0 }, { unit: kernel, content: s3 }]);
    const scale = (merged.spec as unknown as { encoding: { color: { scale: { domain: string[]; range: string[] } } } }).encoding.color.scale;
    assert.deepEqual(scale.domain, ["cnn_skip step 0", "cnn_skip step 3"]);
    assert.equal(scale.range[0], "#76b7b2");
    assert.notEqual(scale.range[1], "#76b7b2");
    assert.deepEqual(seriesColorScale([{ name: "a", color: "#111111" }, { name: "b", color: "#111111" }, { name: "a" }]).domain, ["a", "b"]);
  });

  it("loads over steps with two requests: the range, then the histograms", async () => {
    const { ctx, requests } = context((r) => {
      const ops = r.transform!.map((t) => t.op);
      if (ops.includes("min")) return { run: "cnn_skip", unit: r.unit, steps: [0, 1, 2, 3], result: { lo: { shape: [], dtype: "float32", data: -0.3 }, hi: { shape: [], dtype: "float32", data: 0.3 } } };
      return HIST_STEPS;
    }, ["1"]);
    const content = await histogramTool.load(kernel, ctx, { step: "all" }, host);
    assert.equal(requests.length, 2);
    assert.deepEqual(requests[1].steps, [0, 1, 2, 3]);
    assert.deepEqual((requests[1].transform![2] as { edges: number[] }).edges, binEdges(-0.3, 0.3, 30));
    assert.equal(content.rows.length, 120);
    const single = await histogramTool.load(kernel, context(() => HIST).ctx, {}, host);
    assert.equal(single.caption, "step 3");
  });

  it("applies to variables, activations and neurons once the graph is known, never to an input layer", async () => {
    const { ctx } = context(() => HIST);
    histogramTool.appliesTo(unit("layer", "cnn_skip", "image"), ctx);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(histogramTool.appliesTo(unit("layer", "cnn_skip", "image"), ctx), false);
    assert.equal(histogramTool.appliesTo(kernel, ctx), true);
    assert.equal(histogramTool.appliesTo(unit("variable", "cnn_skip", "conv_1", { variable: "gamma" }), ctx), false);
    assert.equal(histogramTool.appliesTo(unit("neuron", "cnn_skip", "dense_hidden", { neuron: 3 }), ctx), true);
    assert.equal(histogramTool.appliesTo({ kind: "model", level: "L3", runs: ["cnn_skip"], key: "model:cnn_skip", label: "cnn_skip" }, ctx), false);
  });
});

// ----------------------------------------------------------------------------------------------------
// Distribution over training
// ----------------------------------------------------------------------------------------------------

describe("distribution", () => {
  const kernel = unit("variable", "cnn_skip", "conv_1", { variable: "kernel" });

  it("asks for quantiles of every step on the server", () => {
    assert.equal(distributionSteps([0, 1, 2, 3]), "all");
    const request = distributionRequest(kernel, "all", ["1"]);
    assert.equal(request.steps, "all");
    assert.equal(request.classes, undefined);
    assert.deepEqual(request.transform, [{ op: "flatten", start_axis: 1 }, { op: "quantiles", q: [0.05, 0.25, 0.5, 0.75, 0.95], axis: 1 }]);
    const neuron = distributionRequest(unit("neuron", "cnn_skip", "dense_hidden", { neuron: 2 }), distributionSteps(Array.from({ length: 250 }, (_, i) => i)), ["1"]);
    assert.deepEqual(neuron.classes, ["1"]);
    assert.equal((neuron.steps as number[]).length, 100);
    assert.deepEqual(neuron.transform![0], { op: "select", indices: [2], axis: -1 });
  });

  it("maps the quantiles to one row per step and draws two bands and a median", async () => {
    const content = distributionContent(QUANTILES, kernel, {}, { run: "cnn_skip", color: "#76b7b2" });
    assert.equal(content.rows.length, 4);
    assert.deepEqual(content.rows.map((r) => r.step), [0, 1, 2, 3]);
    assert.equal(content.rows[0].q05, -0.1711);
    assert.equal(content.rows[3].q95, 0.2605);
    assert.equal(content.rows[2].q50, 0.02301);
    assert.equal(content.rows[2].q75, 0.1558);
    assert.equal(content.rows[1].q25, -0.08731);
    assert.deepEqual(content.extents!.x, [0, 3]);
    assert.deepEqual(content.extents!.y, [-0.1788, 0.2605]);
    const view = await render(content);
    assert.equal(dataMarks(view, "area").length, 2);
    assert.equal(dataMarks(view, "line").length, 1);
    assert.equal(itemsOf(view, "line").length, 4);
    assert.equal(itemsOf(view, "symbol").length, 4);
  });

  it("retries with fewer steps when the route refuses too many elements", async () => {
    const limit = Object.assign(new Error("the input has 60000000 elements, more than max_input_elements = 50000000"), { status: 400 });
    const { ctx, requests } = context((r) => {
      if (r.steps === "all" || (r.steps as number[]).length > 2) throw limit;
      return { ...QUANTILES, steps: r.steps as number[], result: { value: { shape: [5, 2], dtype: "float32", data: [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]] } } };
    });
    const content = await distributionTool.load(kernel, ctx, {}, host);
    assert.deepEqual(requests.map((r) => r.steps), ["all", [0, 3]]);
    assert.deepEqual(content.rows.map((r) => r.step), [0, 3]);
    assert.match(content.caption!, /2 of 4 steps/);
    // Other errors are not retried.
    const other = Object.assign(new Error("no such layer"), { status: 404 });
    await assert.rejects(withStepBudget([0, 1, 2, 3], async () => { throw other; }), /no such layer/);
    const sent: number[][] = [];
    const { steps } = await withStepBudget(Array.from({ length: 12 }, (_, i) => i), async (list) => {
      sent.push(list);
      if (list.length > 3) throw limit;
      return 1;
    });
    assert.deepEqual(sent.map((l) => l.length), [12, 6, 3]);
    assert.deepEqual(steps, [0, 7, 11]);
  });

  it("honours common domains and merges two models", async () => {
    const a = distributionContent(QUANTILES, kernel, { yDomain: [-1, 1] }, { run: "cnn_skip", color: "#76b7b2" });
    const view = await render(a);
    assert.deepEqual(view.scale("y").domain(), [-1, 1]);
    const wide = unit("variable", "cnn_wide", "conv_1", { variable: "kernel" });
    const b = distributionContent({ ...QUANTILES, run: "cnn_wide" }, wide, {}, { run: "cnn_wide", color: "#59a14f" });
    const merged = mergeDistributions([{ unit: kernel, content: a }, { unit: wide, content: b }]);
    assert.equal(merged.rows.length, 8);
    assert.deepEqual([...new Set(merged.rows.map((r) => r.series))], ["cnn_skip", "cnn_wide"]);
    const mergedView = await render(merged);
    assert.equal(dataMarks(mergedView, "line").length, 2);
  });
});

// ----------------------------------------------------------------------------------------------------
// Kernel images
// ----------------------------------------------------------------------------------------------------

describe("kernel images", () => {
  it("reduces the input channels, keeps 64 filters and puts filters first, on the server", () => {
    const one = kernelImagesRequest("cnn_skip", "conv_1", "kernel", [3, 3, 1, 16], {});
    assert.deepEqual(one.transform, [
      { op: "select", indices: [0], axis: 2 },
      { op: "reshape", shape: [3, 3, 16] },
      { op: "transpose", axes: [2, 0, 1] },
    ]);
    const many = kernelImagesRequest("cnn_skip", "conv_2", "kernel", [3, 3, 16, 100], {});
    assert.deepEqual(many.transform, [
      { op: "mean", axis: 2 },
      { op: "slice", axis: 2, start: 0, stop: 64 },
      { op: "transpose", axes: [2, 0, 1] },
    ]);
    const channel = kernelImagesRequest("cnn_skip", "conv_2", "kernel", [3, 3, 16, 16], { inputChannel: 5, step: 1 });
    assert.deepEqual(channel.transform![0], { op: "select", indices: [5], axis: 2 });
    assert.equal(channel.steps, 1);
    const dense = kernelImagesRequest("cnn_skip", "dense_hidden", "kernel", [256, 32], {});
    assert.deepEqual(dense.transform, [{ op: "slice", slices: [[0, 128], [0, 32]] }]);
    assert.deepEqual(kernelImagesRequest("cnn_skip", "classifier", "kernel", [32, 10], {}).transform, []);
    // Conv1D: (k, in, out).
    assert.deepEqual(kernelImagesRequest("r", "conv1d", "kernel", [5, 8, 32], { inputChannel: 2 }).transform, [
      { op: "select", indices: [2], axis: 1 },
      { op: "reshape", shape: [5, 32] },
      { op: "transpose", axes: [1, 0] },
    ]);
  });

  it("maps a Conv1D kernel to one row image per filter", async () => {
    const data = Array.from({ length: 4 }, (_, f) => Array.from({ length: 5 }, (_, t) => f - t));
    const answer: DataAnswer = { run: "r", unit: { kind: "weights", layer: "conv1d", variable: "kernel" }, steps: [3], result: { value: { shape: [4, 5], dtype: "float32", data } } };
    const content = kernelImagesContent(answer, unit("variable", "r", "conv1d", { variable: "kernel" }), {}, { shape: [5, 8, 4] });
    assert.equal(content.rows.length, 20);
    assert.ok(content.rows.every((r) => r.row === 0));
    assert.match(content.caption!, /4 filters \(1×5\), mean over the 8 input channels/);
    assert.equal(itemsOf(await render(content), "rect").length, 20);
  });

  it("maps a Conv2D kernel to one small image per filter, symmetric around 0", async () => {
    const u = unit("variable", "cnn_skip", "conv_1", { variable: "kernel" });
    const content = kernelImagesContent(CONV_KERNEL, u, {}, { shape: [3, 3, 1, 16] });
    assert.equal(content.rows.length, 144);
    assert.equal(new Set(content.rows.map((r) => r.filter)).size, 16);
    assert.deepEqual(content.rows[1], { filter: 0, row: 0, col: 1, value: (CONV_KERNEL.result.value as { data: number[][][] }).data[0][0][1] });
    assert.match(content.caption!, /16 filters \(3×3\), its only input channel/);
    const domain = (json(content.spec).match(/"domain":\[([^\]]*)\]/) ?? [])[1]!.split(",").map(Number);
    assert.equal(domain[0], -domain[domain.length - 1]);
    const view = await render(content);
    assert.equal(dataMarks(view, "rect").length, 16);
    assert.equal(itemsOf(view, "rect").length, 144);
    const mean = kernelImagesContent(CONV_KERNEL, u, {}, { shape: [3, 3, 16, 16] });
    assert.match(mean.caption!, /mean over the 16 input channels/);
  });

  it("maps a Dense kernel to one heatmap and says when it was sliced", async () => {
    const data = Array.from({ length: 128 }, (_, i) => Array.from({ length: 4 }, (_, j) => (i - j) / 100));
    const answer: DataAnswer = { run: "cnn_skip", unit: { kind: "weights", layer: "dense_hidden", variable: "kernel" }, steps: [3], result: { value: { shape: [128, 4], dtype: "float32", data } } };
    const content = kernelImagesContent(answer, unit("variable", "cnn_skip", "dense_hidden", { variable: "kernel" }), {}, { shape: [256, 4] });
    assert.equal(content.rows.length, 512);
    assert.match(content.caption!, /inputs 0–127 of 256.*sliced on the server/);
    const view = await render(content);
    assert.equal(itemsOf(view, "rect").length, 512);
    const small = kernelImagesContent({ ...answer, result: { value: { shape: [2, 3], dtype: "float32", data: [[1, -2, 0], [0.5, 0, 0]] } } }, unit("layer", "cnn_skip", "x"), {}, { shape: [2, 3] });
    assert.equal(small.rows.length, 6);
    assert.doesNotMatch(small.caption!, /sliced/);
    assert.equal(itemsOf(await render(small), "rect").length, 6);
  });

  it("applies to kernels and layers with a kernel only", async () => {
    const { ctx } = context(() => HIST);
    kernelImagesTool.appliesTo(unit("layer", "cnn_skip", "pool"), ctx);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(kernelImagesTool.appliesTo(unit("layer", "cnn_skip", "pool"), ctx), false);
    assert.equal(kernelImagesTool.appliesTo(unit("layer", "cnn_skip", "conv_2"), ctx), true);
    assert.equal(kernelImagesTool.appliesTo(unit("variable", "cnn_skip", "conv_2", { variable: "bias" }), ctx), false);
    assert.equal(kernelImagesTool.appliesTo(unit("variable", "cnn_skip", "dense_hidden", { variable: "kernel" }), ctx), true);
    assert.equal(kernelImagesTool.appliesTo(unit("activation", "cnn_skip", "conv_2"), ctx), false);
    assert.equal(kernelVariable(unit("layer", "x", "dw"), ["depthwise_kernel", "bias"]), "depthwise_kernel");
  });
});

// ----------------------------------------------------------------------------------------------------
// Activation maps
// ----------------------------------------------------------------------------------------------------

const ALL_LABELS = (LABELS.result.value as { data: number[] }).data;

describe("activation maps", () => {
  const pool = unit("activation", "cnn_nested", "features/pool");

  it("slices 6 samples and one channel (strided beyond 32 pixels) and asks for the class means", () => {
    const small = activationMapsRequests("cnn_nested", "features/pool", [4, 4, 8], { channel: 3 }, ["1", "2"]);
    assert.deepEqual(small.samples!.transform, [{ op: "slice", slices: [[0, 6], [0, 4, 1], [0, 4, 1], 3] }]);
    assert.deepEqual(small.samples!.classes, ["1", "2"]);
    assert.deepEqual(small.means!.unit, { kind: "class_means", layer: "features/pool" });
    assert.deepEqual(small.means!.classes, ["1", "2"]);
    assert.deepEqual(small.labels, { run: "cnn_nested", unit: { kind: "labels" }, steps: "last" });
    const big = activationMapsRequests("r", "conv", [224, 224, 64], { channel: 99 }, null);
    assert.equal(mapStride(224, 224), 7);
    assert.deepEqual(big.samples!.transform, [{ op: "slice", slices: [[0, 6], [0, 224, 7], [0, 224, 7], 0] }]);
    assert.equal(big.samples!.classes, undefined);
  });

  it("maps sample maps with probe indices and one mean map per selected class", async () => {
    const content = activationMapsContent(MAP_SAMPLES, MAP_MEANS, pool, {}, { allLabels: ALL_LABELS, classNames: CLASS_NAMES, hwc: [4, 4, 8], classes: ["1", "2"] });
    assert.equal(content.sampleField, "sample");
    assert.equal(content.rows.length, 6 * 16 + 2 * 16);
    const samples = [...new Set(content.rows.filter((r) => r.kind === "sample").map((r) => r.sample))];
    const expected = ALL_LABELS.map((l, i) => (l === 1 || l === 2 ? i : -1)).filter((i) => i >= 0).slice(0, 6);
    assert.deepEqual(samples, expected);
    for (const row of content.rows.filter((r) => r.kind === "sample")) assert.ok(["1", "2"].includes(row.class as string));
    assert.deepEqual([...new Set(content.rows.filter((r) => r.kind === "class").map((r) => r.panel))], ["mean of 1", "mean of 2"]);
    assert.match(content.caption!, /channel 0 of 8: 6 of 14 samples/);
    const view = await render(content);
    assert.equal(dataMarks(view, "rect").length, 8);
    const cells = itemsOf(view, "rect");
    assert.equal(cells.length, 128);
    assert.ok(cells.every((c) => c.opacity === 1));
    view.signal("highlight", expected[2]);
    await view.runAsync();
    const lit = itemsOf(view, "rect").filter((c) => c.opacity === 1);
    assert.equal(lit.length, 16);
    assert.ok(lit.every((c) => (c.datum as { sample: number }).sample === expected[2]));
  });

  it("applies to image-shaped outputs only", async () => {
    const { ctx } = context(() => HIST);
    activationMapsTool.appliesTo(unit("layer", "cnn_skip", "pool"), ctx);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(activationMapsTool.appliesTo(unit("layer", "cnn_skip", "pool"), ctx), true);
    assert.equal(activationMapsTool.appliesTo(unit("activation", "cnn_skip", "dense_hidden"), ctx), false);
    assert.equal(activationMapsTool.appliesTo(unit("layer", "cnn_skip", "image"), ctx), false);
    assert.equal(activationMapsTool.appliesTo(unit("variable", "cnn_skip", "conv_1", { variable: "kernel" }), ctx), false);
  });

  it("loads with three requests and the selected classes", async () => {
    const { ctx, requests } = context((r) => (r.unit.kind === "labels" ? LABELS : r.unit.kind === "class_means" ? MAP_MEANS : MAP_SAMPLES), ["1", "2"]);
    const content = await activationMapsTool.load(unit("layer", "cnn_skip", "pool"), ctx, { channel: 2 }, host);
    assert.equal(requests.length, 3);
    assert.deepEqual(requests[0].transform, [{ op: "slice", slices: [[0, 6], [0, 4, 1], [0, 4, 1], 2] }]);
    assert.equal(content.rows.length, 128);
  });
});

// ----------------------------------------------------------------------------------------------------
// Feature distribution
// ----------------------------------------------------------------------------------------------------

describe("feature distribution", () => {
  const zMean = unit("layer", "vae_fixed", "z_mean");

  it("asks for a KDE per dimension of at most 16 dimensions, on a common range if set", () => {
    const request = featureDistributionRequest("vae_fixed", "z_mean", 2, {}, ["1", "2"]);
    assert.deepEqual(request.transform, [{ op: "flatten", start_axis: 1 }, { op: "kde", points: 100 }]);
    assert.deepEqual(request.classes, ["1", "2"]);
    const wide = featureDistributionRequest("cnn_skip", "conv_1", 1024, { xDomain: [-1, 2] }, null);
    assert.deepEqual(wide.transform, [{ op: "flatten", start_axis: 1 }, { op: "slice", axis: 1, start: 0, stop: 16 }, { op: "kde", points: 100, range: [-1, 2] }]);
    assert.equal(wide.classes, undefined);
  });

  it("maps densities to one curve per dimension with extents", async () => {
    const content = featureDistributionContent(KDE, zMean, {}, { run: "vae_fixed", color: "#f28e2b", features: 2, classes: ["1", "2"] });
    assert.equal(content.rows.length, 40);
    assert.equal(content.seriesField, "model");
    assert.deepEqual([...new Set(content.rows.map((r) => r.dim))], [0, 1]);
    assert.match(content.caption!, /2 dimensions over 14 samples \(classes 1, 2\)/);
    assert.equal(content.extents!.y![0], 0);
    assert.equal(content.extents!.x![0], -2.296);
    const view = await render(content);
    assert.equal(dataMarks(view, "line").length, 2);
    assert.equal(itemsOf(view, "line").length, 40);
    const shared = await render(featureDistributionContent(KDE, zMean, { xDomain: [-3, 3], yDomain: [0, 2] }, { run: "vae_fixed", color: "#f28e2b", features: 2 }));
    assert.deepEqual(shared.scale("x").domain(), [-3, 3]);
    assert.deepEqual(shared.scale("y").domain(), [0, 2]);
  });

  it("says which dimensions are constant", () => {
    const content = featureDistributionContent(KDE_CARELESS, unit("layer", "vae_careless", "z_mean"), {}, { run: "vae_careless", color: "#e15759", features: 2, classes: null });
    assert.equal(content.rows.length, 20);
    assert.match(content.caption!, /constant \(no density\): dim 0/);
  });

  it("merges two models' latent layers: a panel per dimension, a curve per model", async () => {
    const a = featureDistributionContent(KDE, zMean, {}, { run: "vae_fixed", color: "#f28e2b", features: 2 });
    const careless = unit("layer", "vae_careless", "z_mean");
    const b = featureDistributionContent(KDE_CARELESS, careless, {}, { run: "vae_careless", color: "#e15759", features: 2 });
    const merged = mergeFeatureDistributions([{ unit: zMean, content: a }, { unit: careless, content: b }]);
    assert.equal(merged.rows.length, 60);
    assert.equal(merged.seriesField, "model");
    assert.deepEqual((merged.spec as unknown as { spec: { encoding: { color: { scale: unknown } } } }).spec.encoding.color.scale, { domain: ["vae_fixed", "vae_careless"], range: ["#f28e2b", "#e15759"] });
    assert.deepEqual(merged.extents!.x, [-2.296, Math.max(...b.extents!.x!, ...a.extents!.x!)]);
    const view = await render(merged);
    // dim 0: vae_fixed only (constant in vae_careless); dim 1: both.
    assert.equal(dataMarks(view, "line").length, 3);
  });
});

// ----------------------------------------------------------------------------------------------------
// Projection
// ----------------------------------------------------------------------------------------------------

describe("projection", () => {
  const dense = unit("layer", "cnn_skip", "dense_hidden");

  it("flattens features, averages big conv maps over positions and asks for the labels", () => {
    assert.deepEqual(projectionReduce([null, 32]).ops, []);
    assert.deepEqual(projectionReduce([null, 8, 8, 16]).ops, [{ op: "flatten", start_axis: 1 }]);
    assert.deepEqual(projectionReduce([null, 32, 32, 64]).ops, [{ op: "mean", axis: [1, 2] }]);
    assert.deepEqual(projectionReduce([null, 20000]).ops, [{ op: "slice", axis: 1, start: 0, stop: 10000 }]);
    const { pca, labels } = projectionRequests("cnn_skip", "dense_hidden", [null, 32], { step: 2 }, ["3", "1"]);
    assert.deepEqual(pca, { run: "cnn_skip", unit: { kind: "activations", layer: "dense_hidden" }, steps: 2, transform: [{ op: "pca", components: 2 }], classes: ["3", "1"] });
    assert.deepEqual(labels, { run: "cnn_skip", unit: { kind: "labels" }, steps: 2 });
  });

  it("maps coordinates to samples of the selected classes with their probe index and class", async () => {
    const content = projectionContent(PCA, dense, {}, { run: "cnn_skip", allLabels: ALL_LABELS, classNames: CLASS_NAMES, classes: ["3", "1"] });
    assert.equal(content.rows.length, 14);
    assert.equal(content.sampleField, "sample");
    const expected = ALL_LABELS.map((l, i) => (l === 1 || l === 3 ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(content.rows.map((r) => r.sample), expected);
    assert.ok(content.rows.every((r) => r.class === String(ALL_LABELS[r.sample as number])));
    assert.deepEqual(new Set(content.rows.map((r) => r.class)), new Set(["1", "3"]));
    assert.match(content.caption!, /PCA of 14 samples \(classes 3, 1\)/);
    const xs = content.rows.map((r) => r.pc1 as number);
    assert.deepEqual(content.extents!.x, [Math.min(...xs), Math.max(...xs)]);
    const view = await render(content);
    const points = itemsOf(view, "symbol");
    assert.equal(points.length, 14);
    assert.equal(distinct(points, "class"), 2);
    assert.ok(points.every((p) => p.size === 30));
    view.signal("highlight", expected[4]);
    await view.runAsync();
    const big = itemsOf(view, "symbol").filter((p) => p.size === 130);
    assert.equal(big.length, 1);
    assert.equal((big[0].datum as { sample: number }).sample, expected[4]);
  });

  it("honours common domains and refuses labels that do not match", async () => {
    const content = projectionContent(PCA, dense, { xDomain: [-10, 10], yDomain: [-8, 8] }, { run: "cnn_skip", allLabels: ALL_LABELS, classNames: CLASS_NAMES });
    const view = await render(content);
    assert.deepEqual(view.scale("x").domain(), [-10, 10]);
    assert.deepEqual(view.scale("y").domain(), [-8, 8]);
    assert.throws(() => keptSamples([1, 2, 3], [3, 1]), /do not match/);
    assert.deepEqual(keptSamples([1, 2, 3, 1], [1, 1]), [0, 3]);
  });

  it("loads the PCA and the labels", async () => {
    const { ctx, requests } = context((r) => (r.unit.kind === "labels" ? LABELS : PCA), ["3", "1"]);
    const content = await projectionTool.load(dense, ctx, {}, host);
    assert.equal(requests.length, 2);
    assert.deepEqual(requests[0].classes, ["3", "1"]);
    assert.equal(content.rows.length, 14);
  });
});

// ----------------------------------------------------------------------------------------------------
// Statistics
// ----------------------------------------------------------------------------------------------------

describe("statistics", () => {
  it("asks for the logged statistics of a variable or of a layer's activations", () => {
    assert.deepEqual(statisticsRequest(unit("variable", "cnn_skip", "conv_1", { variable: "kernel" })), { run: "cnn_skip", unit: { kind: "statistics", unit: "conv_1/kernel" }, steps: "all" });
    assert.deepEqual(statisticsRequest(unit("layer", "cnn_nested", "features/conv_1")).unit, { kind: "statistics", unit: "features/conv_1/activations" });
    assert.throws(() => statisticsRequest(unit("neuron", "cnn_skip", "dense_hidden", { neuron: 1 })));
  });

  it("maps the statistics to a row per step, a table at step 0 and the last step, and mean ± std", async () => {
    const u = unit("variable", "cnn_skip", "conv_1", { variable: "kernel" });
    const content = statisticsContent(STATS, u, {}, { run: "cnn_skip", color: "#76b7b2" });
    assert.equal(content.rows.length, 4);
    const [first, last] = [content.rows[0], content.rows[3]];
    assert.equal(first.min, -0.1941);
    assert.equal(last.max, 0.2923);
    assert.ok(Math.abs((last.hi as number) - ((last.mean as number) + (last.std as number))) < 1e-12);
    assert.deepEqual(content.table.steps, [0, 3]);
    const labels = content.table.rows.map((r) => r.label);
    for (const wanted of ["min", "max", "mean", "std", "skew", "kurtosis", "zero fraction", "NaN count", "±Inf count"]) assert.ok(labels.includes(wanted), wanted);
    const mean = content.table.rows.find((r) => r.field === "mean")!;
    assert.deepEqual(mean.values, [first.mean, last.mean]);
    assert.deepEqual(content.extents!.x, [0, 3]);
    const view = await render(content);
    assert.equal(dataMarks(view, "area").length, 1);
    assert.equal(itemsOf(view, "line").length, 4);
    assert.equal(itemsOf(view, "symbol").length, 4);
    const shared = await render(statisticsContent(STATS, u, { xDomain: [0, 10], yDomain: [-1, 1] }, { run: "cnn_skip", color: "#76b7b2" }));
    assert.deepEqual(shared.scale("x").domain(), [0, 10]);
    assert.deepEqual(shared.scale("y").domain(), [-1, 1]);
  });

  it("flags non-finite values in the caption", () => {
    const bad = structuredClone(STATS);
    const data = (bad.result.value as { data: number[][] }).data;
    data[2][2] = 5; // nan_count at step 2
    const content = statisticsContent(bad, unit("variable", "cnn_skip", "conv_1", { variable: "kernel" }), {}, { run: "cnn_skip", color: "#76b7b2" });
    assert.match(content.caption!, /non-finite values from step 2/);
    assert.equal(statisticsTool.classDependent, false);
  });
});

// ----------------------------------------------------------------------------------------------------
// Neurons x classes
// ----------------------------------------------------------------------------------------------------

describe("neurons × classes", () => {
  it("reduces positions to channels and picks the 64 most varying neurons on the server", () => {
    assert.deepEqual(neuronReduce([null, 32]), { ops: [], units: 32, note: "" });
    assert.deepEqual(neuronReduce([null, 8, 8, 16]).ops, [{ op: "mean", axis: [1, 2] }]);
    assert.equal(neuronReduce([null, 8, 8, 16]).units, 16);
    const spread = spreadRequest("cnn_skip", "flatten", [], {}, ["1", "2"]);
    assert.deepEqual(spread, { run: "cnn_skip", unit: { kind: "class_means", layer: "flatten" }, steps: "last", transform: [{ op: "std", axis: 0 }, { op: "topk", k: 64, axis: 0 }], classes: ["1", "2"] });
    const picked = pickedNeurons(SPREAD);
    assert.equal(picked.length, 64);
    assert.deepEqual(picked, [...picked].sort((a, b) => a - b));
    const matrix = matrixRequest("cnn_skip", "flatten", [], picked, { step: 1 }, null);
    assert.deepEqual(matrix.transform, [{ op: "select", indices: picked, axis: 1 }]);
    assert.equal(matrix.classes, undefined);
  });

  it("maps the class means of the selected classes to a heatmap neurons x classes", async () => {
    const content = neuronsByClassesContent(CLASS_MEANS, unit("layer", "cnn_skip", "dense_hidden"), {}, { units: 32, classNames: CLASS_NAMES, classes: ["1", "2", "7"] });
    assert.equal(content.rows.length, 3 * 32);
    assert.deepEqual([...new Set(content.rows.map((r) => r.class))], ["1", "2", "7"]);
    const data = (CLASS_MEANS.result.value as { data: number[][] }).data;
    assert.equal(content.rows.find((r) => r.class === "7" && r.neuron === 4)!.value, data[2][4]);
    assert.match(content.caption!, /32 neurons \(classes 1, 2, 7\)/);
    const view = await render(content);
    const cells = itemsOf(view, "rect");
    assert.equal(cells.length, 96);
    assert.equal(distinct(cells, "class"), 3);
    assert.deepEqual(view.scale("x").domain(), ["1", "2", "7"]);
  });

  it("labels picked neurons by their index and says how they were picked", async () => {
    const neurons = pickedNeurons(SPREAD);
    const data = CLASS_NAMES.map((_, k) => neurons.map((n) => n / 256 + k));
    const answer: DataAnswer = { run: "cnn_skip", unit: { kind: "class_means", layer: "flatten" }, steps: [3], classes: CLASS_NAMES, result: { value: { shape: [10, 64], dtype: "float32", data } } };
    const content = neuronsByClassesContent(answer, unit("layer", "cnn_skip", "flatten"), {}, { neurons, units: 256, classNames: CLASS_NAMES, classes: null });
    assert.equal(content.rows.length, 640);
    assert.deepEqual(new Set(content.rows.map((r) => r.neuron)), new Set(neurons));
    assert.match(content.caption!, /the 64 of 256 neurons varying most across the selected classes \(all classes\)/);
    assert.equal(itemsOf(await render(content), "rect").length, 640);
    assert.throws(() => neuronsByClassesContent(answer, unit("layer", "cnn_skip", "flatten"), {}, { neurons: [1, 2], units: 256, classNames: CLASS_NAMES }));
  });

  it("loads in two requests above 64 neurons, in one below", async () => {
    const select = (r: DataRequest) => r.transform?.find((t) => t.op === "select") as { indices: number[] } | undefined;
    const { ctx, requests } = context((r) => {
      if (r.transform?.some((t) => t.op === "topk")) return SPREAD;
      const indices = select(r)!.indices;
      return { run: "cnn_skip", unit: r.unit, steps: [3], classes: ["1", "2"], result: { value: { shape: [2, indices.length], dtype: "float32", data: [indices.map(() => 1), indices.map(() => 2)] } } };
    }, ["1", "2"]);
    const content = await neuronsByClassesTool.load(unit("layer", "cnn_skip", "flatten"), ctx, {}, host);
    assert.equal(requests.length, 2);
    assert.ok(requests.every((r) => json(r.classes) === json(["1", "2"])));
    assert.equal(content.rows.length, 128);
    const few = context(() => CLASS_MEANS, ["1", "2", "7"]);
    await neuronsByClassesTool.load(unit("layer", "cnn_skip", "dense_hidden"), few.ctx, {}, host);
    assert.equal(few.requests.length, 1);
    assert.deepEqual(few.requests[0].transform, []);
  });
});

// ----------------------------------------------------------------------------------------------------
// Every tool
// ----------------------------------------------------------------------------------------------------

describe("the tools", () => {
  const tools: Tool[] = [histogramTool, distributionTool, kernelImagesTool, activationMapsTool, featureDistributionTool, projectionTool, statisticsTool, neuronsByClassesTool, gradientFlowTool];

  it("have distinct ids, a category, a description and a 24x24 icon path", () => {
    assert.equal(new Set(tools.map((t) => t.id)).size, tools.length);
    for (const tool of tools) {
      assert.ok(tool.name && tool.category && tool.description, tool.id);
      assert.match(tool.icon, /^M[\d\s.,MmLlHhVvCcSsQqTtAaZz-]+$/, tool.id);
      const numbers = (tool.icon.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
      assert.ok(numbers.every((n) => n >= -24 && n <= 24), tool.id);
    }
  });

  it("follow the class selector where their data depends on the samples", () => {
    assert.deepEqual(
      tools.filter((t) => t.classDependent).map((t) => t.id),
      ["histogram", "distribution", "activation-maps", "feature-distribution", "projection", "neurons-by-classes"],
    );
  });
});
