// The console's shell: the connection (site and token), the views by address (#/summary,
// #/key/<id>, ...), refreshing, and saying plainly what went wrong.
import { ApiError, apiOrigin, forgetSession, get, loadConfig, loadSession, saveSession } from "./api.js";
import { h } from "./dom.js";
import * as exposure from "./views/exposure.js";
import * as key from "./views/key.js";
import * as runs from "./views/runs.js";
import * as summary from "./views/summary.js";
import * as worklist from "./views/worklist.js";

const VIEWS = { summary, worklist, exposure, runs, key };
const AUTO_REFRESH_MS = 10000;
const $ = (id) => document.getElementById(id);

let session = null;
let timer = null;
let generation = 0; // a slower answer for a view left meanwhile is dropped

function route() {
  const [name, ...rest] = window.location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name] ? name : "summary";
  const param = rest.length ? decodeURIComponent(rest.join("/")) : null;
  return { view, param };
}

// `keyworker console` puts the site and token in the fragment (never sent to a server):
// keep them for this tab and take them off the address bar, history and screen.
function takeTokenFromAddress() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  if (!params.get("token") || !params.get("site")) return false;
  saveSession(params.get("site"), params.get("token"));
  window.history.replaceState(null, "", `${window.location.pathname}#/summary`);
  return true;
}

function showConnection() {
  const connected = Boolean(session);
  $("connection-summary").textContent = connected
    ? `Site ${session.site} · API ${apiOrigin()} · change`
    : "Not connected: enter a site id and token";
  $("connect-site").value = connected ? session.site : $("connect-site").value;
  $("connection").open = !connected;
}

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.replaceChildren(h("h2", {}, headline(error)), h("p", {}, explanation(error)));
  box.hidden = false;
}

function headline(error) {
  if (!(error instanceof ApiError)) return "The console failed";
  if (error.status === 0) return "The API did not answer";
  return `${error.status} ${error.title}`;
}

function explanation(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  switch (error.status) {
    case 0:
      return `${error.detail} Is the stack running? Refresh to try again.`;
    case 401:
      return "The API refused the token: it is missing, expired (local tokens last 12 h) or was " +
        "made by another stack. Paste a new one (keyworker console --site SITE prints it).";
    case 403:
      return `This token does not grant site ${session ? session.site : ""}. ${error.detail}`;
    case 404:
      return `Not found: ${error.detail || "the API has no such item or route."}`;
    default:
      return error.detail || "No detail was given.";
  }
}

function markCurrentNav(view) {
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// Draw the view for the address. `quiet`: a refresh of the same view; keep the reader's
// place (focus) and only announce the time, instead of moving focus to the new heading.
async function show({ quiet = false } = {}) {
  clearTimeout(timer);
  const mine = ++generation;
  await configured;
  if (mine !== generation) return;
  const { view, param } = route();
  const module = VIEWS[view];
  markCurrentNav(view);
  document.title = `${module.title} · keyworker console`;
  const target = $("view");
  if (!session) {
    target.replaceChildren(h("h2", { tabindex: "-1" }, module.title), h("p", {}, "Connect to a site first (above)."));
    showError(null);
    $("connect-site").focus();
    return;
  }
  // What the reader is on (a link, or a field being typed in) survives a quiet refresh.
  const active = quiet && $("view").contains(document.activeElement) ? document.activeElement : null;
  const kept = active && { href: active.getAttribute("href"), id: active.id, value: active.value };
  const heading = h("h2", { id: "view-title", tabindex: "-1" }, module.title, param ? h("span", { class: "visually-hidden" }, ` ${param}`) : null);
  if (!quiet) {
    target.replaceChildren(heading, h("p", { class: "muted" }, "Loading…"));
    heading.focus();
  }
  let result;
  try {
    result = await module.render({ get: (path) => get(session, path), param });
  } catch (error) {
    if (mine !== generation) return;
    target.replaceChildren(heading, h("p", { class: "muted" }, "Nothing to show: see the error above."));
    showError(error);
    if (error instanceof ApiError && error.status === 401) $("connection").open = true;
    $("live").textContent = `${module.title}: failed (${headline(error)}).`;
    scheduleRefresh(null);
    return;
  }
  if (mine !== generation) return;
  const { nodes, refreshAfterMs = null, announce = null } = Array.isArray(result) ? { nodes: result } : result;
  target.replaceChildren(heading, ...nodes.flat());
  showError(null);
  const time = new Date().toISOString().slice(11, 19);
  $("live").textContent = announce ? `${announce} Updated ${time} UTC.` : `${module.title} updated ${time} UTC.`;
  if (!quiet) heading.focus();
  else if (kept) restoreFocus(kept);
  scheduleRefresh(refreshAfterMs);
}

function restoreFocus({ href, id, value }) {
  const again = id ? document.getElementById(id) : href && document.querySelector(`#view [href="${CSS.escape(href)}"]`);
  if (!again) return;
  if (id && value !== undefined && "value" in again) again.value = value;
  again.focus();
}

function scheduleRefresh(viewMs) {
  const auto = $("auto-refresh").checked ? AUTO_REFRESH_MS : null;
  const wait = [viewMs, auto].filter((ms) => ms).sort((a, b) => a - b)[0];
  if (wait) timer = setTimeout(() => show({ quiet: true }), wait);
}

// Where the API is (config.json) is read once; every view waits for it.
const configured = loadConfig();

function start() {
  // Synchronous: the address (token, view) is taken before anything can change it.
  takeTokenFromAddress();
  session = loadSession();
  showConnection();
  $("connect-form").addEventListener("submit", (event) => {
    event.preventDefault();
    session = saveSession($("connect-site").value, $("connect-token").value);
    $("connect-token").value = "";
    showConnection();
    show();
  });
  $("disconnect").addEventListener("click", () => {
    forgetSession();
    session = null;
    showConnection();
    show();
  });
  $("refresh").addEventListener("click", () => show({ quiet: true }));
  $("auto-refresh").addEventListener("change", () => show({ quiet: true }));
  window.addEventListener("hashchange", () => {
    // A new address from `keyworker console` pasted into this tab: sign in again.
    if (takeTokenFromAddress()) {
      session = loadSession();
      showConnection();
    }
    // The skip link's #main is a place on the page, not a view.
    if (window.location.hash.startsWith("#/")) show();
  });
  show();
}

start();
