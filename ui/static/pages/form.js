// New experiment / new sweep: fields generated from GET /schedulers, GET /models (model family,
// optimizer, dataset) and the OpenAPI schema, a debounced live preview (POST /schedulers/preview) and the API's own 422 messages.

import { api, ApiError } from "../api.js";
import { Chart, colour } from "../charts.js";
import { debounce, h, notice } from "../dom.js";
import { navigate } from "../nav.js";
import { clearErrors, readFields, schemaFields, showError } from "../schema-form.js";

const MAX_POINTS = 4000;
// Starting values for parameters the schema requires but gives no default for.
const SUGGEST = { t_max: 20, step_size: 5, milestones: "5, 10", max_lr: 0.01, t_0: 5, total_iters: 5, gamma: 0.9 };

export async function render(root, { kind, signal }) {
  const sweep = kind === "sweep";
  document.title = sweep ? "New sweep · lrlab" : "New experiment · lrlab";
  const [catalog, models, openapi, datasets] = await Promise.all([
    api("/schedulers", { signal }),
    api("/models", { signal }),
    api("/openapi.json", { signal }),
    // The samples the workers' data really holds (a smaller offline copy, say): steps per epoch.
    api("/datasets", { signal }).catch((exc) => {
      if (exc.name === "AbortError") throw exc;
      return [];
    }),
  ]);
  const sizes = new Map(datasets.map((d) => [d.name, d]));
  // The published sizes (the catalog's), where the API cannot say what the workers loaded.
  const published = new Map(models.datasets.map((d) => [d.name, d]));
  const families = new Map(models.families.map((f) => [f.type, f]));
  const optimizers = new Map(models.optimizers.map((o) => [o.name, o]));
  // Optimizer parameters are drawn per optimizer from the catalog, not from TrainingSpec.
  const optimizerParams = new Set(models.optimizers.flatMap((o) => Object.keys(o.parameters)));
  // The submit bodies are documented inline (the API resolves range-test references before it
  // validates), so their models live in the request schema's `$defs`, not in components.
  const body = openapi.paths["/experiments"].post.requestBody.content["application/json"].schema;
  const schemas = { ...openapi.components.schemas, ...(body.$defs || {}) };
  const byType = new Map(catalog.map((c) => [c.type, c]));
  let previewAbort = null;
  const schedulePreview = debounce(runPreview, 300);

  const summary = h("div", { class: "error-summary", tabindex: "-1", hidden: true });
  const nameInput = h("input", { id: "run-name", name: "name", type: "text", maxlength: 200, autocomplete: "off" });
  const nameField = { input: nameInput, error: h("p", { class: "field-error", id: "run-name-error" }) };
  nameInput.setAttribute("aria-describedby", "run-name-error");
  const training = schemaFields(schemas.TrainingSpec, {
    prefix: "training",
    onInput: () => schedulePreview(),
    skip: ["optimizer", ...optimizerParams],
  });
  const dataset = schemaFields(schemas.DatasetSpec, { prefix: "dataset", onInput: () => schedulePreview(), skip: ["name"] });

  /** A catalog choice (family, optimizer, dataset): a select, its description and its fields. */
  function choice({ id, label, entries, selected, describe, parameters, prefix }) {
    const select = h(
      "select",
      { id, name: prefix, "aria-describedby": `${id}-hint` },
      entries.map(([value]) => h("option", { value, selected: value === selected }, value)),
    );
    const hint = h("p", { class: "hint", id: `${id}-hint` });
    const error = h("p", { class: "field-error", "aria-live": "polite" });
    const params = h("div", {});
    const part = { select, fields: new Map(), error, input: select };
    part.element = h(
      "div",
      { class: "catalog-choice", "data-choice": prefix },
      h("div", { class: "field", "data-field": prefix }, h("label", { for: id }, label), select, hint, error),
      params,
    );
    const build = () => {
      const entry = new Map(entries).get(select.value);
      hint.textContent = describe(entry);
      const schema = parameters(entry);
      const generated = schema ? schemaFields(schema, { prefix, onInput: () => schedulePreview() }) : null;
      params.replaceChildren(...(generated ? [generated.element] : []));
      part.fields = generated ? generated.fields : new Map();
      schedulePreview();
    };
    select.addEventListener("change", build);
    build();
    return part;
  }

  const count = (n) => n.toLocaleString("en");
  const titled = (name) =>
    name
      .split("_")
      .map((w) => w[0].toUpperCase() + w.slice(1))
      .join(" ");
  const modelPart = choice({
    id: "run-model",
    label: "Model",
    entries: [...families],
    selected: "mlp",
    describe: (f) => `${f.description} ${count(f.parameter_count)} parameters at the defaults.`,
    parameters: (f) => f.parameters,
    prefix: "model",
  });
  const optimizerPart = choice({
    id: "run-optimizer",
    label: "Optimizer",
    entries: [...optimizers],
    selected: schemas.TrainingSpec.properties.optimizer?.default ?? "adam",
    describe: (o) => `${o.description} Keras' ${o.keras_class}.`,
    // Titled as pydantic titles TrainingSpec's fields ("Weight Decay").
    parameters: (o) => ({
      properties: Object.fromEntries(Object.entries(o.parameters).map(([name, p]) => [name, { title: titled(name), ...p }])),
    }),
    prefix: "training",
  });
  const datasetPart = choice({
    id: "run-dataset",
    label: "Dataset",
    entries: [...published],
    selected: schemas.DatasetSpec.properties.name?.default ?? "mnist",
    describe: (d) => `${d.description} ${count(d.train_samples)} training, ${count(d.val_samples)} validation images.`,
    parameters: () => null,
    prefix: "dataset",
  });
  const readModel = () => ({ type: modelPart.select.value, ...readFields(modelPart.fields) });
  const readTraining = () => ({
    ...readFields(training.fields),
    optimizer: optimizerPart.select.value,
    ...readFields(optimizerPart.fields),
  });
  const readDataset = () => ({ name: datasetPart.select.value, ...readFields(dataset.fields) });

  const runSet = h(
    "fieldset",
    { class: "card" },
    h("legend", {}, sweep ? "Every member" : "Run"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "run-name" }, "Name"),
      nameInput,
      h("p", { class: "hint" }, "Optional label, up to 200 characters."),
      nameField.error,
    ),
    modelPart.element,
    training.element,
    optimizerPart.element,
    datasetPart.element,
    dataset.element,
  );

  // Sweep-only controls.
  const seedsInput = h("input", {
    id: "sweep-seeds",
    name: "seeds",
    type: "text",
    value: "0, 1, 2",
    autocomplete: "off",
    "aria-describedby": "sweep-seeds-hint sweep-seeds-error",
  });
  const seedsField = { input: seedsInput, error: h("p", { class: "field-error", id: "sweep-seeds-error" }) };
  const gridInput = h("textarea", {
    id: "sweep-grid",
    name: "grid",
    rows: 3,
    spellcheck: "false",
    placeholder: '{"step.gamma": [0.5, 0.1], "training.optimizer": ["adam", "adamw"], "model.type": ["mlp", "cnn"]}',
    "aria-describedby": "sweep-grid-hint sweep-grid-error",
  });
  const gridField = { input: gridInput, error: h("p", { class: "field-error", id: "sweep-grid-error" }) };
  const sweepSet = sweep
    ? h(
        "fieldset",
        { class: "card" },
        h("legend", {}, "Sweep"),
        h(
          "div",
          { class: "field" },
          h("label", { for: "sweep-seeds" }, "Seeds"),
          seedsInput,
          h("p", { class: "hint", id: "sweep-seeds-hint" }, "Comma-separated; every configuration trains once per seed."),
          seedsField.error,
        ),
        h(
          "div",
          { class: "field" },
          h("label", { for: "sweep-grid" }, "Grid (optional, JSON)"),
          gridInput,
          h("p", { class: "hint", id: "sweep-grid-hint" }, "`<type>.<parameter>`, `training.<field>` or `model.<field>` → values to try."),
          gridField.error,
        ),
      )
    : null;

  const blocks = [];
  const blockList = h("div", { class: "blocks" });
  const addButton = h(
    "button",
    { type: "button", class: "secondary", onclick: () => addBlock(blocks.length ? blocks.at(-1).type() : "step", true) },
    "Add a scheduler",
  );

  function addBlock(type, focus = false) {
    const block = { fields: new Map(), error: h("p", { class: "field-error block-error", "aria-live": "polite" }) };
    const number = blocks.length + 1;
    const selectId = `sched-${Math.random().toString(36).slice(2, 8)}`;
    const select = h(
      "select",
      { id: selectId, name: "type" },
      catalog.map((c) => h("option", { value: c.type, selected: c.type === type }, c.type)),
    );
    const description = h("p", { class: "hint" });
    const params = h("div", {});
    const legend = h("legend", {}, sweep ? `Scheduler ${number}` : "Schedule");
    const remove = sweep
      ? h(
          "button",
          { type: "button", class: "link danger", onclick: () => removeBlock(block) },
          "Remove",
          h("span", { class: "visually-hidden" }, ` scheduler ${number}`),
        )
      : null;
    block.element = h(
      "fieldset",
      { class: "card block", "data-block": "" },
      legend,
      h(
        "div",
        { class: "block-head" },
        h("div", { class: "field" }, h("label", { for: selectId }, "Scheduler type"), select, description),
        remove,
      ),
      params,
      block.error,
    );
    block.type = () => select.value;
    block.legend = legend;
    const build = () => {
      const entry = byType.get(select.value);
      description.textContent = `${entry.description} Advances per ${entry.default_interval} by default.`;
      const generated = schemaFields(entry.parameters, { prefix: `scheduler-${number}`, onInput: () => schedulePreview() });
      params.replaceChildren(generated.element);
      block.fields = generated.fields;
      for (const [name, field] of generated.fields) {
        if (field.input.value === "" && field.input.getAttribute("aria-required") && name in SUGGEST)
          field.input.value = String(SUGGEST[name]);
      }
      schedulePreview();
    };
    select.addEventListener("change", build);
    block.value = () => ({ type: select.value, ...readFields(block.fields) });
    blocks.push(block);
    blockList.append(block.element);
    build();
    if (focus) select.focus();
  }

  function removeBlock(block) {
    if (blocks.length === 1) return;
    blocks.splice(blocks.indexOf(block), 1);
    block.element.remove();
    blocks.forEach((b, i) => (b.legend.textContent = `Scheduler ${i + 1}`));
    blocks[0].element.querySelector("select").focus();
    schedulePreview();
  }

  // The preview panel.
  const warnings = h("ul", { class: "warnings", "aria-live": "polite" });
  const previewNote = h("p", { class: "hint", "aria-live": "polite" });
  const logToggle = h("input", { type: "checkbox", id: "preview-log" });
  const previewPanel = h(
    "section",
    { class: "card preview", "aria-labelledby": "preview-title" },
    h("h2", { id: "preview-title" }, "Schedule preview"),
    h("div", { class: "toolbar" }, h("label", { class: "check" }, logToggle, " log scale")),
    previewNote,
    warnings,
  );
  let chart = null;
  logToggle.addEventListener("change", () => chart?.setLog(logToggle.checked));

  const submit = h("button", { type: "submit", class: "primary" }, sweep ? "Submit sweep" : "Submit experiment");
  const form = h(
    "form",
    { class: "run-form", novalidate: true, "aria-labelledby": "form-title" },
    summary,
    runSet,
    sweepSet,
    blockList,
    sweep ? h("div", { class: "toolbar" }, addButton) : null,
    h("div", { class: "actions" }, submit),
  );
  root.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", { id: "form-title" }, sweep ? "New sweep" : "New experiment"),
      h("p", { class: "lead" }, "Defaults and bounds come from the API's schema; the API checks everything again on submit."),
    ),
    h("div", { class: "form-layout" }, form, previewPanel),
  );
  addBlock("cosine");
  if (sweep) addBlock("step");

  // --- errors ---------------------------------------------------------------------------
  function backticked(msg) {
    return /`(\w+)`/.exec(msg)?.[1];
  }

  /** The control a 422 error belongs to (the API's loc, or the `name` its message quotes). */
  function locate(loc, msg) {
    const parts = loc.filter((p) => p !== "body");
    let i = parts.indexOf("schedulers");
    let block = null;
    let rest = [];
    if (i >= 0) [block, rest] = [blocks[parts[i + 1]], parts.slice(i + 2)];
    else if ((i = parts.indexOf("scheduler")) >= 0) [block, rest] = [blocks[0], parts.slice(i + 1)];
    if (block) {
      const name = rest.find((p) => block.fields.has(p)) ?? backticked(msg);
      return block.fields.get(name) ?? block;
    }
    for (const [group, fields, select, selectName] of [
      ["training", new Map([...training.fields, ...optimizerPart.fields]), optimizerPart, "optimizer"],
      ["dataset", dataset.fields, datasetPart, "name"],
      ["model", modelPart.fields, modelPart, "type"],
    ]) {
      const at = parts.indexOf(group);
      if (at < 0) continue;
      if (fields.has(parts[at + 1])) return fields.get(parts[at + 1]);
      if (parts[at + 1] === selectName || group === "model") return select;
    }
    if (parts[0] === "seeds") return seedsField;
    if (parts[0] === "grid") return gridField;
    if (parts[0] === "name") return nameField;
    // Preview-level names (learning_rate, epochs) and model checks quoting a field.
    const name = parts.at(-1) ?? backticked(msg);
    return training.fields.get(name) ?? optimizerPart.fields.get(name) ?? dataset.fields.get(name) ?? null;
  }

  function place(error) {
    const target = locate(error.loc, error.msg);
    if (!target) return;
    if (target.fields && !target.select) {
      target.error.textContent = `${target.error.textContent} ${error.msg}`.trim();
    } else {
      showError(target, error.msg);
    }
  }

  function clearAll() {
    for (const f of [training.fields, dataset.fields, modelPart.fields, optimizerPart.fields, ...blocks.map((b) => b.fields)])
      clearErrors(f);
    for (const f of [nameField, seedsField, gridField, modelPart, optimizerPart, datasetPart]) {
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
    }
    blocks.forEach((b) => (b.error.textContent = ""));
    summary.hidden = true;
    summary.replaceChildren();
  }

  function showSummary(errors, title) {
    summary.replaceChildren(
      h("h2", {}, title),
      h(
        "ul",
        {},
        errors.map((e) => h("li", {}, e.loc.length ? h("code", {}, e.loc.join(".")) : null, e.loc.length ? ": " : null, e.msg)),
      ),
    );
    summary.hidden = false;
    summary.focus();
  }

  // --- preview ----------------------------------------------------------------------------
  async function runPreview() {
    previewAbort?.abort();
    previewAbort = new AbortController();
    const t = readFields(training.fields);
    const d = readDataset();
    const epochs = Number.isInteger(t.epochs) ? t.epochs : 20;
    const batch = Number.isInteger(t.batch_size) && t.batch_size > 0 ? t.batch_size : 32;
    const samples = Number.isInteger(d.train_samples) && d.train_samples > 0 ? d.train_samples : 10_000;
    const name = d.name;
    const held = sizes.get(name)?.train_samples ?? published.get(name)?.train_samples ?? samples;
    const steps = Math.max(1, Math.ceil(Math.min(samples, held) / batch));
    const stepsPerEpoch = epochs * steps <= 200_000 ? steps : 1;
    const results = await Promise.all(
      blocks.map(async (block) => {
        const scheduler = block.value();
        const body = { scheduler, learning_rate: t.learning_rate ?? 0.001, epochs, steps_per_epoch: stepsPerEpoch };
        // plateau reads a metric each epoch; the preview assumes it never improves.
        if (scheduler.type === "plateau") body.metrics = Array(Math.max(0, epochs - 1)).fill(1);
        try {
          return { block, result: await api("/schedulers/preview", { method: "POST", body, signal: previewAbort.signal }) };
        } catch (exc) {
          if (exc.name === "AbortError") throw exc;
          return { block, error: exc };
        }
      }),
    ).catch(() => null);
    if (!results) return; // superseded by a newer preview
    for (const { block } of results) {
      clearErrors(block.fields);
      block.error.textContent = "";
    }
    const ok = results.filter((r) => r.result);
    const items = [];
    for (const [i, r] of results.entries()) {
      const prefix = blocks.length > 1 ? `Scheduler ${i + 1}: ` : "";
      if (r.error) {
        for (const e of r.error.errors.length ? r.error.errors : [{ loc: [], msg: r.error.message }]) {
          place(e);
          items.push(
            h("li", { class: "bad" }, prefix, e.loc.length ? h("code", {}, e.loc.join(".")) : null, e.loc.length ? ": " : "", e.msg),
          );
        }
      } else {
        for (const w of r.result.warnings) items.push(h("li", {}, prefix, w));
      }
    }
    warnings.replaceChildren(...items);
    const capped =
      samples > held
        ? ` (${name} holds ${held} training samples${sizes.get(name)?.source === "workers" ? " on the workers" : ""}: ${samples} requested)`
        : "";
    previewNote.textContent = `${epochs} epochs × ${steps} steps per epoch${capped}${stepsPerEpoch === 1 && steps > 1 ? "; drawn per epoch (too many steps to draw)" : ""}; ${items.length ? "" : "no warnings."}`;
    drawPreview(ok, stepsPerEpoch);
  }

  function drawPreview(ok, stepsPerEpoch) {
    const series = ok.map((r) => ({
      label: blocks.length > 1 ? `${blocks.indexOf(r.block) + 1}: ${r.block.type()}` : r.block.type(),
      colour: colour(blocks.indexOf(r.block)),
      points: false,
    }));
    const key = series.map((s) => s.label).join("|");
    if (!chart || chart.key !== key) {
      chart?.destroy();
      chart = new Chart(previewPanel, { title: "learning rate", yLabel: "lr", series, log: logToggle.checked });
      chart.key = key;
      previewPanel.append(warnings);
    }
    if (!ok.length) return chart.setData([[], ...series.map(() => [])]);
    const n = ok[0].result.steps.length;
    const stride = Math.max(1, Math.ceil(n / MAX_POINTS));
    const idx = [];
    for (let i = 0; i < n; i += stride) idx.push(i);
    const xs = idx.map((i) => 1 + i / stepsPerEpoch);
    chart.setData([xs, ...ok.map((r) => idx.map((i) => r.result.steps[i] ?? null))]);
  }

  // --- submit -------------------------------------------------------------------------------
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearAll();
    // The preview owns the schedule's messages: refresh them with the values just submitted.
    schedulePreview();
    const name = nameInput.value.trim() || undefined;
    let body;
    let path;
    if (sweep) {
      const local = [];
      const seeds = seedsInput.value
        .split(/[\s,;]+/)
        .filter(Boolean)
        .map((s) => (Number.isFinite(Number(s)) ? Number(s) : s));
      let grid;
      if (gridInput.value.trim()) {
        try {
          grid = JSON.parse(gridInput.value);
        } catch (exc) {
          local.push({ loc: ["grid"], msg: `not valid JSON: ${exc.message}` });
        }
      }
      if (local.length) {
        local.forEach(place);
        return showSummary(local, "Nothing was submitted");
      }
      path = "/sweeps";
      body = {
        name,
        base: { model: readModel(), training: readTraining(), dataset: readDataset() },
        schedulers: blocks.map((b) => b.value()),
        seeds,
        grid,
      };
    } else {
      path = "/experiments";
      body = { name, scheduler: blocks[0].value(), model: readModel(), training: readTraining(), dataset: readDataset() };
    }
    submit.disabled = true;
    submit.textContent = "Submitting…";
    try {
      const created = await api(path, { method: "POST", body, signal });
      navigate(`/ui/${sweep ? "sweeps" : "experiments"}/${created.id}`);
    } catch (exc) {
      if (exc.name === "AbortError") return;
      const errors = exc instanceof ApiError && exc.errors.length ? exc.errors : [{ loc: [], msg: exc.message }];
      errors.forEach(place);
      showSummary(errors, `The API refused the ${sweep ? "sweep" : "experiment"} (${exc.status || "no answer"}); nothing was created`);
    } finally {
      submit.disabled = false;
      submit.textContent = sweep ? "Submit sweep" : "Submit experiment";
    }
  });

  return () => {
    schedulePreview.cancel();
    previewAbort?.abort();
    chart?.destroy();
  };
}
