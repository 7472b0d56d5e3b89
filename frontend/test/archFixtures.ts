// Small builders for `graph` route answers (Architecture), shaped like the backend's real answers
// (e.g. the cnn_skip and vae_careless samples): shared by the modelGraph, layoutInput and overlay tests.

import type { Architecture, ArchitectureEdge, InnerNode, Layer, Namespace, Shape } from "../src/types";

/** The inner graph of a Dense layer as the backend gives it: input → matmul(kernel) → bias_add(bias) → activation → output. */
export function denseInner(activation = "relu", kernel: Shape = [4, 4], bias: Shape = [4]): Layer["inner"] {
  return {
    nodes: [
      { id: "input", kind: "input", label: "input" },
      { id: "matmul", kind: "op", label: "matmul", op: "matmul" },
      { id: "var:kernel", kind: "variable", label: "kernel", shape: kernel, variable: "kernel" },
      { id: "bias_add", kind: "op", label: "bias_add", op: "bias_add" },
      { id: "var:bias", kind: "variable", label: "bias", shape: bias, variable: "bias" },
      { id: "activation", kind: "op", label: activation, op: "activation", activation },
      { id: "output", kind: "output", label: "output" },
    ],
    edges: [
      ["input", "matmul"],
      ["var:kernel", "matmul"],
      ["matmul", "bias_add"],
      ["var:bias", "bias_add"],
      ["bias_add", "activation"],
      ["activation", "output"],
    ],
  };
}

/** The inner graph of a Conv2D layer (cnn_skip's conv_1). */
export function convInner(kernel: Shape = [3, 3, 1, 16], bias: Shape = [16]): Layer["inner"] {
  return {
    nodes: [
      { id: "input", kind: "input", label: "input" },
      { id: "conv", kind: "op", label: "conv2d 3x3", op: "conv" },
      { id: "var:kernel", kind: "variable", label: "kernel", shape: kernel, variable: "kernel" },
      { id: "bias_add", kind: "op", label: "bias_add", op: "bias_add" },
      { id: "var:bias", kind: "variable", label: "bias", shape: bias, variable: "bias" },
      { id: "activation", kind: "op", label: "relu", op: "activation", activation: "relu" },
      { id: "output", kind: "output", label: "output" },
    ],
    edges: [
      ["input", "conv"],
      ["var:kernel", "conv"],
      ["conv", "bias_add"],
      ["var:bias", "bias_add"],
      ["bias_add", "activation"],
      ["activation", "output"],
    ],
  };
}

/** A one-op inner graph (Flatten, Reshape, Add...): no activation node. */
export function opInner(op: string, inputs = 1): Layer["inner"] {
  const ins: InnerNode[] =
    inputs === 1
      ? [{ id: "input", kind: "input", label: "input" }]
      : Array.from({ length: inputs }, (_, i) => ({ id: `input_${i}`, kind: "input" as const, label: `input ${i}` }));
  return {
    nodes: [...ins, { id: op, kind: "op", label: op, op }, { id: "output", kind: "output", label: "output" }],
    edges: [...ins.map((n): [string, string] => [n.id, op]), [op, "output"]],
  };
}

export function layer(id: string, fields: Partial<Layer> = {}): Layer {
  const type = fields.type ?? "Dense";
  return {
    id,
    name: id.split("/").pop() ?? id,
    type,
    module: "keras.layers",
    namespace: "",
    custom: false,
    is_input: false,
    calls: 1,
    config: {},
    input_shapes: [[null, 4]],
    output_shapes: [[null, 4]],
    params: { trainable: 20, non_trainable: 0 },
    variables: [],
    inner: type === "Dense" ? denseInner() : type === "Conv2D" ? convInner() : opInner(type.toLowerCase()),
    ...fields,
  };
}

export function edge(from: string, to: string, call = 0): ArchitectureEdge {
  return { from, to, from_output: 0, to_input: 0, call, shape: [null, 4] };
}

/** A namespace as the backend sends it; `parent` is null at the top (types.ts only allows a string or nothing). */
export function namespace(id: string, parent: string | null, name = id.split("/").pop() ?? id): Namespace {
  return { id, name, parent, type: "Functional", functional: true } as unknown as Namespace;
}

export function architecture(layers: Layer[], edges: ArchitectureEdge[], namespaces: Namespace[] = []): Architecture {
  return {
    format_version: 1,
    layers,
    edges,
    inputs: layers.length ? [layers[0].id] : [],
    outputs: layers.length ? [{ layer: layers[layers.length - 1].id, output_index: 0 }] : [],
    namespaces,
    model: { class: "Functional", functional: true, name: "fixture", notes: [] },
    params: { trainable: 20 * layers.length, non_trainable: 0 },
  };
}

/** A chain of layers with the given ids, each feeding the next. */
export function chain(ids: string[], fields: (id: string) => Partial<Layer> = () => ({})): Architecture {
  const layers = ids.map((id) => layer(id, fields(id)));
  const edges = ids.slice(1).map((id, i) => edge(ids[i], id));
  return architecture(layers, edges);
}
