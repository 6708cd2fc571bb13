// The technician's worklist: GET /doors?visit=needed (offline doors with unconfirmed
// changes, oldest work first, as the API orders them).
import { h, table } from "../dom.js";
import { age, connectivity } from "../format.js";

export const title = "Technician worklist";

export async function render({ get }) {
  const { doors } = await get("/doors?visit=needed");
  return [
    h("p", { class: "lede" }, doors.length === 1 ? "1 door to visit." : `${doors.length} doors to visit.`),
    table({
      caption: "Doors to visit, oldest work first",
      id: "worklist",
      empty: "no door needs a visit.",
      columns: ["Door", "Pending changes", "Oldest pending", "Confirmed / desired version", "Connection"],
      rows: doors.map((d) =>
        h(
          "tr",
          { "data-door": d.door_id },
          h("th", { scope: "row" }, d.name, h("br"), h("code", {}, d.door_id), ` · ${d.kind}`),
          h("td", { class: "num" }, String(d.pending_changes)),
          h("td", {}, age(d.oldest_pending_age_seconds)),
          h("td", { class: "num" }, `${d.confirmed_version} / ${d.desired_version}`),
          // Present once the API says why an online door is on the list (unreachable).
          h("td", {}, d.connectivity || d.unreachable_since ? connectivity(d) : "offline"),
        ),
      ),
    }),
  ];
}
