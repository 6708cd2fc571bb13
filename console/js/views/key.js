// One key: GET /keys/{key_id} with its per-door rows (status, pending_since, waiting_for,
// last_error: contract C) and GET /keys/{key_id}/history (the audit trail, oldest first).
import { h, table } from "../dom.js";
import { instant, status, waitingFor } from "../format.js";
import { lookupForm } from "./lookup.js";

export const title = "Key";

export async function render({ get, param }) {
  const form = lookupForm({ id: "key-id", label: "Key id", route: "key", value: param || "" });
  if (!param) return [form];
  const path = `/keys/${encodeURIComponent(param)}`;
  const [key, history] = await Promise.all([get(path), get(`${path}/history`)]);
  return [form, h("h3", {}, "Key ", h("code", {}, key.key_id)), facts(key), doors(key), events(history.events)];
}

function facts(key) {
  const fact = (term, ...value) => [h("dt", {}, term), h("dd", {}, ...value)];
  return h(
    "dl",
    { class: "facts", id: "key-facts" },
    fact("Type", key.type),
    fact("Keyholder", key.holder_id),
    fact("General status", status(key.status)),
    fact("Home app", status(key.home_status)),
    // The key's own pending facts are its oldest pending row (contract C).
    fact("Pending since", instant(key.pending_since)),
    fact("Waiting for", waitingFor(key.waiting_for)),
    fact("Last error", key.last_error || "—"),
    fact("Valid", instant(key.valid_from), " to ", key.valid_until ? instant(key.valid_until) : "open end"),
    fact("Version", String(key.version)),
  );
}

function doors(key) {
  return table({
    caption: "Doors of this key",
    id: "key-doors",
    columns: ["Door", "Status", "Pending since", "Waiting for", "Last error"],
    rows: key.doors.map((row) =>
      h(
        "tr",
        { "data-door": row.door_id },
        h("th", { scope: "row" }, h("code", {}, row.door_id)),
        h("td", {}, status(row.status)),
        h("td", {}, instant(row.pending_since)),
        h("td", {}, waitingFor(row.waiting_for)),
        h("td", {}, row.last_error || "—"),
      ),
    ),
  });
}

// Snapshots in the trail hold status codes (labels belong to the current rules).
function snapshot(value) {
  if (!value) return "—";
  const doorStates = Object.entries(value.doors || {}).map(([door, code]) => `${door}: ${code}`);
  return [h("code", {}, value.status), doorStates.length ? ` (${doorStates.join(", ")})` : ""];
}

function events(list) {
  return table({
    caption: "History, oldest first",
    id: "key-history",
    columns: ["#", "When", "What", "Who", "Reason", "Before", "After"],
    rows: list.map((e) =>
      h(
        "tr",
        {},
        h("td", { class: "num" }, String(e.seq)),
        h("td", {}, instant(e.at)),
        h("th", { scope: "row" }, e.action),
        h("td", {}, e.actor),
        h("td", {}, e.reason || "—"),
        h("td", {}, snapshot(e.before)),
        h("td", {}, snapshot(e.after)),
      ),
    ),
  });
}
