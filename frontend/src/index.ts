// Entry point: TensorBoard loads this ES module in the plugin's iframe and calls render().

import { App } from "./app";
import css from "./style.css";
import neuronsCss from "./views/neurons.css";

export async function render(): Promise<void> {
  const style = document.createElement("style");
  style.textContent = css + "\n" + neuronsCss;
  document.head.appendChild(style);
  const app = new App(document.body);
  app.mount();
  await app.start();
}
