// Who can still get in: GET /exposure (contract D). Keys revoked or blocked in the cloud that
// a door still accepts because it has not confirmed the version that removes them.
import { h, table } from "../dom.js";
import { ageSince, connectivity, instant, keyLink, waitingFor } from "../format.js";

export const title = "Exposure";

export async function render({ get }) {
  const exposure = await get("/exposure");
  return [
    h(
      "p",
      { class: "lede" },
      exposure.count === 0
        ? "No revoked or blocked key is still accepted by a door, as of "
        : `${exposure.count} key–door pairs still open, as of `,
      instant(exposure.as_of),
      ".",
    ),
    table({
      caption: "Revoked or blocked keys a door still accepts",
      id: "exposure",
      empty: "nothing is exposed.",
      columns: ["Key", "Why", "Door", "Connection", "Open since", "Technician", "Waiting for"],
      rows: exposure.items.map((item) =>
        h(
          "tr",
          { "data-key": item.key_id, "data-door": item.door_id },
          h("th", { scope: "row" }, keyLink(item.key_id), h("br"), h("span", { class: "muted" }, item.key_type)),
          h("td", {}, item.reason),
          h("td", {}, item.door_name, h("br"), h("code", {}, item.door_id)),
          h("td", {}, connectivity(item)),
          h("td", {}, instant(item.since), ` (${ageSince(item.since, exposure.as_of)})`),
          h("td", {}, item.technician_required ? "must go" : "not needed"),
          h("td", {}, waitingFor(item.waiting_for)),
        ),
      ),
    }),
  ];
}
