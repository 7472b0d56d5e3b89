// The toolbox: each tool an icon with its name, grouped by category, its description on hover. A
// selected tool stays active until it is applied to a unit (or deselected).

import { html, svg } from "../svg";
import type { Tool } from "./types";

export function renderToolbox(container: HTMLElement, tools: Tool[], active: string | null, onSelect: (id: string | null) => void, errors: string[] = []): void {
  container.replaceChildren();
  html("h3", {}, container, "Toolbox");
  const categories = [...new Set(tools.map((t) => t.category))];
  for (const category of categories) {
    html("div", { class: "inn-subtitle" }, container, category);
    const row = html("div", { class: "inn-tools" }, container);
    for (const tool of tools.filter((t) => t.category === category)) {
      const button = html("button", {
        type: "button",
        class: `inn-tool${tool.id === active ? " inn-active" : ""}`,
        "data-tool": tool.id,
        title: `${tool.name}: ${tool.description}`,
        "aria-pressed": String(tool.id === active),
      }, row);
      const icon = svg("svg", { viewBox: "0 0 24 24", width: 18, height: 18 }, button);
      svg("path", { d: tool.icon, class: "inn-tool-icon" }, icon);
      html("span", {}, button, tool.name);
      button.addEventListener("click", () => onSelect(tool.id === active ? null : tool.id));
    }
  }
  if (active) {
    const tool = tools.find((t) => t.id === active);
    html("div", { class: "inn-hint", id: "inn-tool-hint" }, container, `${tool?.name ?? active}: click a unit in the panel (Esc cancels).`);
  }
  for (const error of errors) html("div", { class: "inn-error-text inn-small" }, container, error);
}
