// A small form that opens an item by its id (a key, a run): it navigates, so the address
// names what is shown and Back works.
import { h } from "../dom.js";

export function lookupForm({ id, label, route, value = "" }) {
  const input = h("input", { id, name: id, required: true, autocomplete: "off", spellcheck: "false", value });
  return h(
    "form",
    {
      class: "lookup",
      onsubmit: (event) => {
        event.preventDefault();
        const wanted = input.value.trim();
        if (wanted) window.location.hash = `#/${route}/${encodeURIComponent(wanted)}`;
      },
    },
    h("label", { for: id }, label),
    h("div", { class: "row" }, input, h("button", { type: "submit" }, "Open")),
  );
}
