// Controls of a widget: a labelled <select>, a row of controls, and the step selector.

import type { ToolContext, WidgetContent, WidgetHost, WidgetOptions } from "../../types";

/** A labelled <select> (null outside a browser, e.g. in unit tests). */
export function selectControl(
  label: string,
  choices: { value: string; label: string }[],
  current: string,
  onChange: (value: string) => void,
): HTMLElement | undefined {
  if (typeof document === "undefined") return undefined;
  const wrap = document.createElement("label");
  wrap.className = "inn-small inn-widget-control";
  wrap.append(`${label} `);
  const select = document.createElement("select");
  for (const choice of choices) {
    const option = document.createElement("option");
    option.value = choice.value;
    option.textContent = choice.label;
    if (choice.value === current) option.selected = true;
    select.append(option);
  }
  select.addEventListener("change", () => onChange(select.value));
  wrap.append(select);
  return wrap;
}

/** Several controls in one row. */
export function controlsRow(...controls: (HTMLElement | undefined)[]): HTMLElement | undefined {
  const present = controls.filter((c): c is HTMLElement => Boolean(c));
  if (typeof document === "undefined" || present.length === 0) return undefined;
  const row = document.createElement("div");
  row.className = "inn-widget-controls";
  row.style.display = "flex";
  row.style.gap = "8px";
  row.style.flexWrap = "wrap";
  row.append(...present);
  return row;
}

/** A step selector: "last", every step of the model, and optionally "all". */
export function stepControl(steps: number[], current: WidgetOptions["step"], host: WidgetHost, withAll: boolean): HTMLElement | undefined {
  const choices = [{ value: "last", label: steps.length ? `last (${steps[steps.length - 1]})` : "last" }];
  for (const s of steps) choices.push({ value: String(s), label: String(s) });
  if (withAll) choices.push({ value: "all", label: "all steps" });
  const value = current === undefined ? "last" : String(current);
  return selectControl("step", choices, value, (v) => host.reload({ step: v === "last" || v === "all" ? v : Number(v) }));
}

/** The step selector of a tool that shows one step: "last" or one of the model's steps ("all" is shown as "last"). */
export function oneStepControl(ctx: Pick<ToolContext, "models">, run: string, options: WidgetOptions, host: WidgetHost): HTMLElement | undefined {
  return stepControl(ctx.models.get(run)?.steps ?? [], options.step === "all" ? "last" : options.step, host, false);
}

/** The content with its controls in one row (the content as it is when there are none, e.g. outside a browser). */
export function withControls(content: WidgetContent, ...controls: (HTMLElement | undefined)[]): WidgetContent {
  const html = controlsRow(...controls);
  return html ? { ...content, html } : content;
}
