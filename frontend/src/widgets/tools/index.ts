// The built-in tools, in toolbox order (grouped by category in the toolbox).

import type { Tool } from "../types";
import { activationMapsTool } from "./activationMaps";
import { attentionTool } from "./attention";
import { attributionTool } from "./attribution";
import { branchModelTool } from "./branchModel";
import { classProbabilitiesTool } from "./classProbabilities";
import { confusionMatrixTool } from "./confusionMatrix";
import { distributionTool } from "./distribution";
import { featureDistributionTool } from "./featureDistribution";
import { featureVisualisationTool } from "./featureVisualisation";
import { gradientFlowTool } from "./gradientFlow";
import { histogramTool } from "./histogram";
import { inputReconstructionTool } from "./inputReconstruction";
import { kernelImagesTool } from "./kernelImages";
import { loggedImagesTool } from "./loggedImages";
import { mistakeNeuronsTool } from "./mistakeNeurons";
import { modelSaveSizeTool } from "./modelSaveSize";
import { neuronsByClassesTool } from "./neuronsByClasses";
import { noteTool } from "./note";
import { performanceMetricsTool } from "./performanceMetrics";
import { projectionTool } from "./projection";
import { runtimeStatisticsTool } from "./runtimeStatistics";
import { statisticsTool } from "./statistics";
import { suggestionsTool } from "./suggestions";

export const builtinTools: Tool[] = [
  performanceMetricsTool,
  runtimeStatisticsTool,
  modelSaveSizeTool,
  confusionMatrixTool,
  classProbabilitiesTool,
  histogramTool,
  distributionTool,
  statisticsTool,
  gradientFlowTool,
  kernelImagesTool,
  activationMapsTool,
  featureDistributionTool,
  attentionTool,
  projectionTool,
  neuronsByClassesTool,
  inputReconstructionTool,
  suggestionsTool,
  attributionTool,
  mistakeNeuronsTool,
  featureVisualisationTool,
  loggedImagesTool,
  noteTool,
  branchModelTool,
];
