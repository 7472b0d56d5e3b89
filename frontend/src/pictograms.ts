// Pictograms of inner operations, drawn in a 24x24 box centred on (0, 0): a glance tells a
// matmul from a convolution, a normalisation or an activation (paper Fig. 5).

import type { InnerNode } from "./types";

/** Each pictogram: SVG path data (stroke only) on a -12..12 square. */
const PATHS: Record<string, string> = {
  // matmul: a small matrix grid with a dot
  matmul: "M-6,-6h12v12h-12zM-6,0h12M0,-6v12",
  einsum: "M-6,-6h12v12h-12zM-6,0h12M0,-6v12M-6,-6l12,12",
  // convolution: a 3x3 kernel over a sheet
  conv: "M-8,-8h12v12h-12zM-4,-4h12v12h-12zM0,-4v12M4,-4v12M-4,0h12M-4,4h12",
  depthwise_conv: "M-8,-8h10v10h-10zM-4,-4h10v10h-10zM0,0h10v10h-10z",
  // bias add: + b
  bias_add: "M-7,0h8M-3,-4v8M3,-6v10M3,0a3,3 0 1 1 0,4",
  // activations: drawn per function below
  activation: "M-8,4h8l8,-10",
  identity: "M-8,6l16,-12",
  // normalisation: a bell curve
  normalize: "M-9,6C-5,6 -4,-7 0,-7S5,6 9,6",
  scale: "M-7,7l14,-14M-7,-2l5,5",
  shift: "M-8,0h14M3,-3l3,3l-3,3",
  // pooling: four cells to one
  max_pool: "M-9,-7h8v8h-8zM-5,-7v8M-9,-3h8M2,-1h6v6h-6zM-1,-3l3,3",
  avg_pool: "M-9,-7h8v8h-8zM-5,-7v8M-9,-3h8M2,-1h6v6h-6zM-1,-3l3,3",
  global_avg_pool: "M-9,-8h10v10h-10zM4,0h4v4h-4zM1,-3l3,3",
  global_max_pool: "M-9,-8h10v10h-10zM4,0h4v4h-4zM1,-3l3,3",
  // reshape and flatten: a square turned into a line
  flatten: "M-9,-6h6v6h-6zM-1,-3h3M0,-5l2,2l-2,2M4,-9v14",
  reshape: "M-9,-6h6v10h-6zM-1,-1h3M0,-3l2,2l-2,2M4,-4h6v6h-6z",
  // merges
  concatenate: "M-8,-7h6v14h-6zM2,-7h6v14h-6z",
  add: "M-7,0h14M0,-7v14",
  subtract: "M-7,0h14",
  multiply: "M-6,-6l12,12M6,-6l-12,12",
  average: "M-7,4l14,-8M-7,-4h5M2,4h5",
  maximum: "M-7,5l7,-10l7,10",
  minimum: "M-7,-5l7,10l7,-10",
  dropout: "M-7,-7h3v3h-3zM4,-7h3v3h-3zM-2,-1h3v3h-3zM-7,4h3v3h-3zM4,4h3v3h-3z",
  gather: "M-8,-7h16M-8,-2h16M-8,3h16M4,-9l4,2l-4,2",
  recurrent: "M-6,0a6,6 0 1 1 6,6M-2,8l2,-2l-2,-2",
  // attention: scores as a small grid of dots, their softmax as bars, the weighted sum as a sigma
  attention_scores: "M-7,-7h14v14h-14zM-3,-3h1M2,-3h1M-3,2h1M2,2h1",
  attention_softmax: "M-8,6v-4M-4,6v-9M0,6v-3M4,6v-6M8,6v-2",
  attention_sum: "M6,-7h-12l7,7l-7,7h12",
  // recurrent cells: a gate as a valve, the state as a loop, time as an arrow along steps
  gate: "M-8,0h5M3,0h5M-3,-5v10M3,-5v10M-3,0l6,-4",
  state: "M-6,0a6,6 0 1 1 6,6M-2,8l2,-2l-2,-2",
  interpolate: "M-8,6l16,-12M-8,-2h4M4,2h4",
  last_step: "M-9,0h14M2,-4l4,4l-4,4M8,-6v12",
  reverse: "M8,-3h-14M-3,-7l-4,4l4,4M-8,3h14M3,-1l4,4l-4,4",
  time_steps: "M-9,6h18M-6,6v-8M0,6v-8M6,6v-8",
  pack: "M-8,-7h6v14h-6zM2,-7h6v14h-6z",
  call: "M-7,-4h14v8h-14z",
};

const ACTIVATION_PATHS: Record<string, string> = {
  relu: "M-8,4h8l8,-10",
  relu6: "M-8,4h6l6,-8h4",
  leaky_relu: "M-8,6l8,-2l8,-10",
  elu: "M-8,5C-3,5 -2,2 0,2l8,-9",
  gelu: "M-8,4C-2,5 -2,2 0,2l8,-9",
  swish: "M-8,4C-2,5 -2,2 0,2l8,-9",
  silu: "M-8,4C-2,5 -2,2 0,2l8,-9",
  sigmoid: "M-9,6C-2,6 2,-6 9,-6",
  tanh: "M-9,7C-2,7 2,-7 9,-7M-9,0h18",
  softmax: "M-8,6v-4M-4,6v-9M0,6v-3M4,6v-6M8,6v-2",
  softplus: "M-8,5C-2,5 0,3 8,-7",
  linear: "M-8,6l16,-12",
  exponential: "M-8,6C0,6 4,4 7,-8",
};

export function pictogramPath(node: InnerNode): string {
  if (node.op === "activation") return ACTIVATION_PATHS[node.activation ?? node.label] ?? PATHS.activation;
  return PATHS[node.op ?? ""] ?? PATHS.call;
}

/** A category per op for the colour of its circle. */
export function opCategory(op: string | undefined): string {
  if (!op) return "other";
  if (op === "matmul" || op === "einsum" || op.includes("conv")) return "linear";
  if (op === "activation" || op === "identity") return "activation";
  if (op === "normalize" || op === "scale" || op === "shift") return "normalization";
  if (op.includes("pool")) return "pooling";
  if (op === "flatten" || op === "reshape") return "reshape";
  if (["concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum"].includes(op)) return "merge";
  if (op === "bias_add") return "bias";
  if (op.startsWith("attention_")) return "attention";
  if (op === "gate" || op === "state" || op === "interpolate" || op === "recurrent") return "recurrent";
  return "other";
}

export const CATEGORY_COLORS: Record<string, string> = {
  linear: "#dbe9f6",
  activation: "#fde3c8",
  normalization: "#e4f2dd",
  pooling: "#ece2f0",
  reshape: "#eeeeee",
  merge: "#fff3bf",
  bias: "#f3e6e6",
  attention: "#fbe0ef",
  recurrent: "#def3f1",
  other: "#f5f5f5",
};
