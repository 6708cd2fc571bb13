// The site at a glance: GET /summary (contract D). Counts by status as bars, the doors with
// their pending work (oldest first), the oldest pending items, the running revocation runs.
import { bar, h, table } from "../dom.js";
import { age, ageSince, connectivity, instant, keyLink, runLink, status, waitingFor } from "../format.js";

export const title = "Site summary";

export async function render({ get }) {
  const summary = await get("/summary");
  const keys = summary.keys;
  return [
    h("p", { class: "lede" }, `${keys.total} keys, as of `, instant(summary.as_of), "."),
    countsTable("Keys by general status", "by-status", keys.by_status, keys.total),
    countsTable("Keys by home-app status", "by-home-status", keys.by_home_status, keys.total),
    countsTable("Door rows by per-door status", "by-door-status", keys.by_door_status, null),
    doorsTable(summary.doors),
    oldestPending(summary.oldest_pending, summary.as_of),
    runs(summary.revocation_runs || []),
  ];
}

function countsTable(caption, id, counts, total) {
  // Door rows have no single total (a key has several): their bars compare to the largest.
  const scale = total ?? Math.max(0, ...counts.map((c) => c.count));
  return table({
    caption,
    id,
    narrow: true,
    columns: ["Status", "Count", "Share"],
    rows: counts.map((c) =>
      h(
        "tr",
        { "data-code": c.code, "data-mode": c.mode ?? null },
        h("th", { scope: "row" }, status(c)),
        h("td", { class: "num", "data-count": c.count }, String(c.count)),
        h("td", {}, bar(c.count, scale)),
      ),
    ),
  });
}

// Doors whose pending work is oldest come first: that is where someone must act.
function doorsTable(doors) {
  const sorted = [...doors].sort((a, b) => {
    if (!a.oldest_pending_since) return b.oldest_pending_since ? 1 : a.door_id.localeCompare(b.door_id);
    if (!b.oldest_pending_since) return -1;
    return a.oldest_pending_since.localeCompare(b.oldest_pending_since);
  });
  const most = Math.max(0, ...doors.map((d) => d.pending_count));
  return table({
    caption: "Doors, oldest pending work first",
    id: "doors",
    columns: ["Door", "Connection", "Pending", "Oldest pending", "Confirmed / desired version", "Last seen"],
    rows: sorted.map((d) =>
      h(
        "tr",
        { "data-door": d.door_id },
        h("th", { scope: "row" }, d.name, h("br"), h("code", {}, d.door_id), ` · ${d.kind}`),
        h("td", {}, connectivity(d)),
        h("td", { class: "num" }, String(d.pending_count), " ", bar(d.pending_count, most)),
        h("td", {}, age(d.oldest_pending_age_seconds)),
        h("td", { class: "num" }, `${d.confirmed_version} / ${d.desired_version}`),
        h("td", {}, instant(d.last_seen)),
      ),
    ),
  });
}

function oldestPending(items, asOf) {
  return table({
    caption: "Oldest pending items",
    id: "oldest-pending",
    columns: ["Key", "Door", "State", "Waiting for", "Pending since"],
    rows: items.map((item) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, keyLink(item.key_id), h("br"), h("span", { class: "muted" }, item.key_type)),
        h("td", {}, item.door_id ? h("code", {}, item.door_id) : "key"),
        h("td", {}, status(item.state)),
        h("td", {}, waitingFor(item.waiting_for)),
        h("td", {}, instant(item.pending_since), ` (${ageSince(item.pending_since, asOf)})`),
      ),
    ),
  });
}

function runs(running) {
  return table({
    caption: "Running revocation runs",
    id: "running-runs",
    columns: ["Run", "State", "Progress"],
    rows: running.map((run) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, runLink(run.run_id)),
        h("td", {}, run.state),
        h(
          "td",
          {},
          h("progress", { max: Math.max(run.total, 1), value: run.done, "aria-label": `Run ${run.run_id}` }),
          ` ${run.done} of ${run.total} keys`,
        ),
      ),
    ),
  });
}
