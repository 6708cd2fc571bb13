// Revocation runs: the running ones (from GET /summary) and one run's progress and report
// (GET /revocations/{run_id}). A run in progress is read again every few seconds.
import { ApiError } from "../api.js";
import { h, table } from "../dom.js";
import { instant, runLink } from "../format.js";
import { lookupForm } from "./lookup.js";

export const title = "Revocation runs";
const UNFINISHED = new Set(["planning", "running", "cancelling"]);

export async function render({ get, param }) {
  if (param) return renderRun(get, param);
  const parts = [lookupForm({ id: "run-id", label: "Run id", route: "runs" })];
  // The API lists no finished runs; the summary names the running ones. Without it, a run
  // can still be opened by its id, so the form stays and the reason is said beside it.
  let running;
  try {
    running = (await get("/summary")).revocation_runs || [];
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) throw error;
    parts.push(h("p", { class: "notice", id: "running-runs" }, `Running runs could not be listed: the summary answered ${error.status || "nothing"} ${error.title}. ${error.detail}`));
    return { nodes: parts };
  }
  parts.push(
    table({
      caption: "Running revocation runs",
      id: "running-runs",
      empty: "no run is running.",
      columns: ["Run", "State", "Progress"],
      rows: running.map((run) =>
        h("tr", {}, h("th", { scope: "row" }, runLink(run.run_id)), h("td", {}, run.state), h("td", {}, progress(run.done, run.total, run.run_id))),
      ),
    }),
  );
  return { nodes: parts, refreshAfterMs: running.length ? 3000 : null };
}

function progress(done, total, runId) {
  return [h("progress", { max: Math.max(total, 1), value: done, "aria-label": `Run ${runId} progress` }), ` ${done} of ${total} keys`];
}

async function renderRun(get, runId) {
  const run = await get(`/revocations/${encodeURIComponent(runId)}`);
  const p = run.progress;
  const c = run.counts;
  const nodes = [
    lookupForm({ id: "run-id", label: "Run id", route: "runs", value: runId }),
    h("h3", {}, "Run ", h("code", {}, run.run_id)),
    h(
      "dl",
      { class: "facts", id: "run-facts" },
      fact("State", h("span", { "data-state": run.state }, run.dry_run ? `${run.state} (dry run)` : run.state)),
      fact("Progress", progress(p.keys_done, p.keys_total, run.run_id)),
      fact("Chunks", `${p.chunks_done} of ${p.chunks_total}`),
      fact("Counts", `revoked ${c.revoked}, already revoked ${c.already_revoked}, failed ${c.failed}, cancelled ${c.cancelled}`),
      fact("Reason", run.reason || "—"),
      fact("Started by", run.started_by),
      fact("Created", instant(run.created_at)),
      fact("Finished", instant(run.finished_at)),
    ),
    // The security officer's question after a bulk revocation: who can still get in.
    h("p", {}, h("a", { href: "#/exposure" }, "Who can still get in: the exposure list")),
  ];
  if (run.report) {
    nodes.push(doorsTable("Offline doors to visit", "run-doors-to-visit", run.report.doors_to_visit));
    nodes.push(
      table({
        caption: "Keys not revoked",
        id: "run-failures",
        empty: "none.",
        columns: ["Key", "Reason"],
        rows: run.report.failures.map((f) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, f.key_id)), h("td", {}, f.reason))),
      }),
    );
  } else if (run.plan) {
    nodes.push(doorsTable("Offline doors the run will need visited", "run-doors-to-visit", run.plan.doors_to_visit));
  }
  return {
    nodes,
    refreshAfterMs: UNFINISHED.has(run.state) ? 2000 : null,
    announce: `Run ${run.run_id}: ${run.state}, ${p.keys_done} of ${p.keys_total} keys.`,
  };
}

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function doorsTable(caption, id, doors) {
  return table({
    caption,
    id,
    empty: "none.",
    columns: ["Door", "Keys", "Door versions", "Still unconfirmed"],
    rows: doors.map((d) =>
      h(
        "tr",
        { "data-door": d.door_id },
        h("th", { scope: "row" }, d.name, " ", h("code", {}, d.door_id)),
        h("td", { class: "num" }, String(d.keys)),
        h("td", { class: "num" }, String(d.changes)),
        h("td", { class: "num" }, d.pending_changes ?? "—"),
      ),
    ),
  });
}
