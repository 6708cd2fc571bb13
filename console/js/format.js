// How values read on the page. Labels of statuses come from the API (the seed's words); only
// the words for who must act are the console's, keyed by the API's `waiting_for` codes.
import { h } from "./dom.js";

export const WAITING_FOR = {
  technician: "a technician (the door is offline: a visit is needed)",
  door: "the door (online, has not confirmed yet)",
  mobile_cloud: "the mobile-access cloud (delivery or take-back not confirmed)",
  keyholder_app: "the keyholder (to open the app)",
};

export function waitingFor(code) {
  if (!code) return h("span", { class: "muted" }, "—");
  return h("span", { class: "waiting", "data-waiting-for": code }, h("strong", {}, code), ` — ${WAITING_FOR[code] || ""}`);
}

// ISO instants as UTC, to the second, in a <time> element that keeps the exact value.
export function instant(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  const text = date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
  return h("time", { datetime: iso }, text);
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function ageSince(iso, asOf) {
  if (!iso) return "—";
  const then = new Date(iso).getTime();
  const now = asOf ? new Date(asOf).getTime() : Date.now();
  return age((now - then) / 1000);
}

// A status object from the API: {code, label, mode?}. The label is the seed's words (a
// per-door label already says "(manual)" or "(automated)"); the code stays visible (it is
// what the API filters by).
export function status(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("span", { class: "status", "data-code": value.code }, `${value.label} `, h("code", {}, value.code));
}

export function keyLink(keyId) {
  return h("a", { href: `#/key/${encodeURIComponent(keyId)}` }, keyId);
}

export function runLink(runId) {
  return h("a", { href: `#/runs/${encodeURIComponent(runId)}` }, runId);
}

export function connectivity(door) {
  if (door.unreachable_since) {
    return h("span", { class: "badge alert" }, "unreachable since ", instant(door.unreachable_since));
  }
  const offline = door.connectivity === "offline";
  return h("span", { class: offline ? "badge" : "badge ok" }, door.connectivity || "—");
}
