// Breadcrumbs: the levels above the current one, each a jump back up (the z-axis of navigation).

import { ascendTo, breadcrumbs, type Store } from "../state";
import { html } from "../svg";

export function renderBreadcrumbs(container: HTMLElement, store: Store): void {
  container.replaceChildren();
  const trail = breadcrumbs(store.get());
  trail.forEach((crumb, i) => {
    if (i) html("span", { class: "inn-crumb-sep" }, container, "›");
    const last = i === trail.length - 1;
    const button = html("button", { class: `inn-crumb${last ? " inn-current" : ""}`, "data-level": crumb.level, type: "button" }, container, `${crumb.level} ${crumb.label}`);
    if (last) button.disabled = true;
    else button.addEventListener("click", () => store.update((s) => ascendTo(s, crumb.level)));
  });
}
