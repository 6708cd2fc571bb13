// The console's only way to the data: the same HTTP API and bearer token as curl
// (docs/http-api.md). Nothing here knows a status rule; the API says everything.

const SESSION_KEY = "keyworker.console.session";

// Where the API is. Empty: the origin that served the page (the local stack). When the page
// is served from S3/CloudFront, config.json names the API (docs/deploy.md).
let apiBase = "";

export class ApiError extends Error {
  constructor(status, title, detail, field) {
    super(detail || title);
    this.status = status; // 0: no answer at all (network, CORS, the stack stopped)
    this.title = title;
    this.detail = detail;
    this.field = field;
  }
}

export async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) {
      const config = await response.json();
      apiBase = String(config.api_base || "").replace(/\/+$/, "");
    }
  } catch {
    // No config file: the API is where the page came from.
  }
}

export function apiOrigin() {
  return apiBase || window.location.origin;
}

// sessionStorage, not localStorage: the token is gone when the tab closes, and other tabs
// (and other sites' scripts, which the CSP keeps out anyway) never see it.
export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return session && session.site && session.token ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(site, token) {
  const session = { site: site.trim(), token: token.trim() };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

// GET a path under /v1/sites/{site}; the parsed JSON, or an ApiError carrying the problem
// document's title and detail (RFC 9457), which the page shows as they are.
export async function get(session, path) {
  const url = `${apiBase}/v1/sites/${encodeURIComponent(session.site)}${path}`;
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${session.token}`, Accept: "application/json" },
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "No answer", `The API at ${apiOrigin()} did not answer (${error.message}).`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null; // e.g. an HTML error page from a proxy: the status still says enough
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      (body && body.title) || response.statusText || "Error",
      (body && (body.detail || body.message)) || "",
      body && body.field,
    );
  }
  return body;
}
