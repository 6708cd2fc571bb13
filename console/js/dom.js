// Small DOM helpers. Every value from the API goes in as text (textContent), never as HTML,
// so a door name or a reason cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

let captionCount = 0;

// A table in a wrapper that scrolls sideways on a narrow screen (the page itself never does).
// The wrapper is focusable and named by the caption, so keyboard users can scroll it too.
export function table({ caption, columns, rows, id, empty = "None.", narrow = false }) {
  if (rows.length === 0) return h("p", { class: "empty", id }, `${caption}: ${empty}`);
  const captionId = `caption-${++captionCount}`;
  return h(
    "div",
    { class: "table-wrap", role: "region", tabindex: "0", "aria-labelledby": captionId },
    h(
      "table",
      // A narrow table (a few short columns) fits a phone; the others scroll in the wrapper.
      { id, class: narrow ? "narrow" : null },
      h("caption", { id: captionId }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
  );
}

// A horizontal bar for a count out of a total; the number is always written beside it, the
// bar only shows proportion (decorative for a screen reader).
export function bar(count, total) {
  const fill = h("span", { class: "bar-fill" });
  const share = total > 0 ? Math.max(count > 0 ? 1 : 0, Math.round((100 * count) / total)) : 0;
  // CSSOM, not a style attribute: the CSP allows no inline styles.
  fill.style.width = `${share}%`;
  return h("span", { class: "bar", "aria-hidden": "true" }, fill);
}
