// Every tool of the toolbox: the built-in ones and those declared in JSON (the `tools` route).

import { api } from "../api";
import { jsonTool } from "./jsonTool";
import { builtinTools } from "./tools/index";
import type { Tool } from "./types";

export async function loadTools(): Promise<{ tools: Tool[]; errors: string[] }> {
  const tools = [...builtinTools];
  const errors: string[] = [];
  try {
    const answer = await api.tools();
    for (const declaration of answer.tools) tools.push(jsonTool(declaration));
    for (const error of answer.errors) errors.push(`JSON tool ${error.path}: ${error.error}`);
  } catch (error) {
    errors.push(`JSON tools could not be loaded: ${(error as Error).message}`);
  }
  return { tools, errors };
}
