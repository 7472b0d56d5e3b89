// Minimal iNNspector tab: lists the models of the experiment from the `models` route.
// The full inspection panel (TypeScript, bundled with esbuild) replaces this file.

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

export async function render() {
  document.body.style.fontFamily = "Roboto, sans-serif";
  const title = document.createElement("h2");
  title.textContent = "iNNspector: models";
  document.body.appendChild(title);
  const status = document.createElement("p");
  status.textContent = "Loading models…";
  document.body.appendChild(status);
  try {
    const response = await fetch(new URL("models", import.meta.url));
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    const table = document.createElement("table");
    table.id = "innspector-models";
    const head = table.insertRow();
    for (const name of ["run", "name", "id", "parents", "steps", "trainable params", "errors"]) cell(head, name);
    for (const model of body.models) {
      const row = table.insertRow();
      cell(row, model.run);
      cell(row, model.name);
      cell(row, (model.id || "").slice(0, 8));
      cell(row, model.parents.map((p) => p.slice(0, 8)).join(", "));
      cell(row, String(model.steps.length));
      cell(row, model.params ? String(model.params.trainable) : "");
      cell(row, model.errors.join("; "));
    }
    status.textContent = `${body.models.length} models`;
    document.body.appendChild(table);
  } catch (error) {
    status.textContent = `Could not load models: ${error.message}`;
  }
}
