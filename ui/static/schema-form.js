// Form fields generated from JSON Schema (the scheduler catalog, the OpenAPI components):
// every parameter with its default, bounds and description; values read back as the API wants.

import { h, short } from "./dom.js";

let counter = 0;

/** The schema of a property, with `nullable` when it is `anyOf: [X, null]`. */
function unwrap(prop) {
  if (!prop.anyOf) return { ...prop, nullable: false };
  const branches = prop.anyOf.filter((b) => b.type !== "null");
  return {
    ...prop,
    ...(branches.length === 1 ? branches[0] : {}),
    anyOf: branches.length === 1 ? undefined : branches,
    nullable: branches.length < prop.anyOf.length,
  };
}

function bounds(p) {
  const parts = [];
  if (p.minimum !== undefined) parts.push(`≥ ${short(p.minimum)}`);
  if (p.exclusiveMinimum !== undefined) parts.push(`> ${short(p.exclusiveMinimum)}`);
  if (p.maximum !== undefined && p.maximum < 1e7) parts.push(`≤ ${short(p.maximum)}`);
  if (p.exclusiveMaximum !== undefined) parts.push(`< ${short(p.exclusiveMaximum)}`);
  return parts.join(", ");
}

function isNumberList(p) {
  return p.type === "array" && ["integer", "number"].includes(p.items?.type);
}

function defaultText(p) {
  if (p.default === undefined || p.default === null) return "";
  if (Array.isArray(p.default)) return isNumberList(p) ? p.default.join(", ") : JSON.stringify(p.default);
  return String(p.default);
}

/** A text input's value as JSON: numbers where they parse, else the text (the API explains). */
function parseScalar(text, p) {
  const t = text.trim();
  if (t === "") return undefined;
  if (p.type === "integer" || p.type === "number") {
    const n = Number(t);
    return t !== "" && Number.isFinite(n) ? n : t;
  }
  return t;
}

/**
 * One labelled control per property of `schema`, under a path prefix (e.g. "training").
 * Returns {element, fields: Map(name → {read(), input, error})}.
 */
export function schemaFields(schema, { prefix, onInput, skip = [] }) {
  const fields = new Map();
  const required = new Set(schema.required || []);
  const element = h("div", { class: "fields" });
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    if (skip.includes(name) || raw.const !== undefined) continue;
    const p = unwrap(raw);
    const id = `f${++counter}-${prefix}-${name}`.replace(/[^\w-]/g, "-");
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const described = `${hintId} ${errorId}`;
    const isRequired = required.has(name);
    let input;
    let read;
    if (p.enum) {
      input = h(
        "select",
        { id, name, "aria-describedby": described },
        p.nullable ? h("option", { value: "" }, "default") : null,
        p.enum.map((v) => h("option", { value: v, selected: v === p.default }, v)),
      );
      read = () => (input.value === "" ? undefined : input.value);
    } else if (p.type === "boolean") {
      input = h("input", { id, name, type: "checkbox", checked: p.default === true, "aria-describedby": described });
      read = () => (input.checked === (p.default === true) ? undefined : input.checked);
    } else if (p.type === "integer" || p.type === "number") {
      input = h("input", {
        id,
        name,
        type: "text",
        inputmode: p.type === "integer" ? "numeric" : "decimal",
        autocomplete: "off",
        value: defaultText(p),
        placeholder: isRequired ? "required" : p.nullable ? "default" : "",
        "aria-required": isRequired ? "true" : undefined,
        "aria-describedby": described,
      });
      read = () => parseScalar(input.value, p);
    } else if (isNumberList(p)) {
      input = h("input", {
        id,
        name,
        type: "text",
        autocomplete: "off",
        value: defaultText(p),
        placeholder: isRequired ? "required, e.g. 5, 10" : "e.g. 5, 10",
        "aria-required": isRequired ? "true" : undefined,
        "aria-describedby": described,
      });
      read = () => {
        const t = input.value.trim();
        if (t === "") return undefined;
        return t
          .split(/[\s,;]+/)
          .filter(Boolean)
          .map((part) => parseScalar(part, p.items));
      };
    } else if (p.type === "string") {
      input = h("input", { id, name, type: "text", value: defaultText(p), "aria-describedby": described });
      read = () => (input.value.trim() === "" ? undefined : input.value.trim());
    } else {
      // Nested specs (sequential's schedulers): JSON, checked by the API like the rest.
      input = h("textarea", {
        id,
        name,
        rows: 4,
        spellcheck: "false",
        placeholder: '[{"type": "linear", "start_factor": 0.1, "total_iters": 5}, {"type": "cosine", "t_max": 15}]',
        "aria-describedby": described,
      });
      input.value = defaultText(p);
      read = () => {
        const t = input.value.trim();
        if (t === "") return undefined;
        try {
          return JSON.parse(t);
        } catch {
          return t;
        }
      };
    }
    const hint = [p.description, bounds(p), p.default !== undefined && p.default !== null ? `default ${defaultText(p)}` : ""]
      .filter(Boolean)
      .join(" · ");
    const error = h("p", { class: "field-error", id: errorId, "aria-live": "polite" });
    const label = h("label", { for: id }, p.title || name, isRequired ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null);
    const wrapper = h(
      "div",
      { class: `field field-${p.type || "json"}`, "data-field": `${prefix}.${name}` },
      label,
      input,
      h("p", { class: "hint", id: hintId }, hint),
      error,
    );
    input.addEventListener("input", () => onInput?.());
    input.addEventListener("change", () => onInput?.());
    element.append(wrapper);
    fields.set(name, { read, input, error, wrapper });
  }
  return { element, fields };
}

/** The object the API wants: only what was filled in (defaults stay the API's). */
export function readFields(fields) {
  const out = {};
  for (const [name, field] of fields) {
    const value = field.read();
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export function clearErrors(fields) {
  for (const field of fields.values()) {
    field.error.textContent = "";
    field.input.removeAttribute("aria-invalid");
  }
}

export function showError(field, message) {
  // The preview and the submit may both report the same field's problem: say it once.
  if (field.error.textContent.includes(message)) return field.input.setAttribute("aria-invalid", "true");
  field.error.textContent = field.error.textContent ? `${field.error.textContent} ${message}` : message;
  field.input.setAttribute("aria-invalid", "true");
}
