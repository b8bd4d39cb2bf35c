// The HTTP API (../shared API contract) as plain functions. Every call carries the signed-in token.

import { currentToken } from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

let apiBase = new URL("../", location.href).href; // the app is served from <api>/ui/index.html
const unauthorizedListeners = new Set();

export function configureApi(config) {
  if (config && config.api_base) apiBase = new URL(config.api_base, location.href).href;
}

export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function apiUrl(path, query) {
  const url = new URL(path.replace(/^\//, ""), apiBase);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url.href;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: API Gateway or a proxy answered */
  }
  const error = body && body.error;
  if (error && error.code) return new ApiError(response.status, error.code, error.message, error.details);
  const text = (body && body.message) || response.statusText || "the server did not answer as expected";
  return new ApiError(response.status, response.status === 404 ? "not_found" : "error", text, []);
}

export async function request(method, path, { query, json, body, contentType, accept, keepalive } = {}) {
  const headers = { Accept: accept || "application/json" };
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  let response;
  try {
    // keepalive lets a last autosave finish while the page unloads.
    response = await fetch(apiUrl(path, query), { method, headers, body: payload, keepalive: !!keepalive });
  } catch (cause) {
    throw new ApiError(0, "network", "Herald could not be reached; check your connection and try again.", []);
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401) unauthorizedListeners.forEach((listener) => listener(error));
    throw error;
  }
  if (response.status === 204) return null;
  if (accept && accept !== "application/json") return response.blob();
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// --- what this server offers, from its OpenAPI document ----------------------------------------

let openapi = { paths: {} };

export async function loadCapabilities() {
  try {
    const response = await fetch(apiUrl("/openapi.json"));
    if (response.ok) openapi = await response.json();
  } catch {
    /* an older server without the document: only the routes every server has are offered */
  }
}

/** Whether the server has `method path` (a path as API.md writes it, e.g. /communications/{id}/cancel). */
export function has(method, path) {
  const wanted = path.split("/");
  return Object.entries(openapi.paths || {}).some(([candidate, operations]) => {
    const parts = candidate.split("/");
    return (
      parts.length === wanted.length &&
      parts.every((part, i) => part === wanted[i] || (part.startsWith("{") && wanted[i].startsWith("{"))) &&
      Object.prototype.hasOwnProperty.call(operations, method.toLowerCase())
    );
  });
}

/** Whether `method path` takes a JSON body (the audience takes a CSV everywhere, JSON filters where offered). */
export function acceptsJson(method, path) {
  for (const [candidate, operations] of Object.entries(openapi.paths || {})) {
    const parts = candidate.split("/");
    const wanted = path.split("/");
    if (parts.length !== wanted.length) continue;
    if (!parts.every((part, i) => part === wanted[i] || (part.startsWith("{") && wanted[i].startsWith("{")))) continue;
    const content = operations[method.toLowerCase()]?.requestBody?.content || {};
    if (Object.keys(content).some((type) => type.includes("json"))) return true;
  }
  return false;
}

// --- routes -------------------------------------------------------------------------------------

const comm = (id) => `/communications/${encodeURIComponent(id)}`;

export const api = {
  config: () => fetch(new URL("config.json", location.href)).then((r) => (r.ok ? r.json() : {})),
  mintDevToken: (name, role) =>
    fetch(new URL("dev-token", location.href), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, role }),
    }).then(async (r) => {
      if (!r.ok) throw await errorFrom(r);
      return r.json();
    }),

  listCommunications: (query) => request("GET", "/communications", { query }),
  getCommunication: (id) => request("GET", comm(id)),
  createCommunication: (json) => request("POST", "/communications", { json }),
  patchCommunication: (id, json, options) => request("PATCH", comm(id), { json, ...options }),
  deleteCommunication: (id) => request("DELETE", comm(id)),
  putAudienceCsv: (id, file) => request("PUT", `${comm(id)}/audience`, { body: file, contentType: "text/csv" }),
  putAudienceFilter: (id, filter) => request("PUT", `${comm(id)}/audience`, { json: { filter } }),
  audienceUploadUrl: (id) => request("POST", `${comm(id)}/audience/upload-url`, { json: {} }),
  audienceTemplate: () => request("GET", "/communications/audience-template.csv", { accept: "text/csv" }),
  preview: (id, json) => request("POST", `${comm(id)}/preview`, { json }),
  dryRun: (id) => request("POST", `${comm(id)}/dry-run`, { json: {} }),
  job: (jobId) => request("GET", `/jobs/${encodeURIComponent(jobId)}`),
  testSend: (id, json) => request("POST", `${comm(id)}/test-send`, { json }),
  send: (id) => request("POST", `${comm(id)}/send`, { json: {} }),
  schedule: (id, sendAt) => request("POST", `${comm(id)}/schedule`, { json: { send_at: sendAt } }),
  unschedule: (id) => request("POST", `${comm(id)}/unschedule`, { json: {} }),
  cancel: (id) => request("POST", `${comm(id)}/cancel`, { json: {} }),
  pause: (id) => request("POST", `${comm(id)}/pause`, { json: {} }),
  resume: (id) => request("POST", `${comm(id)}/resume`, { json: {} }),
  clone: (id, only) => request("POST", `${comm(id)}/clone`, { json: { only } }),
  listMessages: (id, query) => request("GET", `${comm(id)}/messages`, { query }),
  getMessage: (id, messageId) => request("GET", `${comm(id)}/messages/${encodeURIComponent(messageId)}`),
  sendFailures: (id) => request("GET", `${comm(id)}/send-failures`),
  sendFailuresCsv: (id) => request("GET", `${comm(id)}/send-failures`, { accept: "text/csv" }),
  listTemplates: () => request("GET", "/templates", { query: { limit: 200 } }),
  getTemplate: (id) => request("GET", `/templates/${encodeURIComponent(id)}`),
  listAccounts: (query) => request("GET", "/accounts", { query }),
};

/** Poll GET /jobs/{id} until the job is done; resolves with its result. */
export async function waitForJob(jobId, onProgress, intervalMs = 1000) {
  for (;;) {
    const job = await api.job(jobId);
    if (onProgress) onProgress(job.progress);
    if (job.state === "succeeded" || job.state === "done" || job.state === "completed") {
      if (job.result !== undefined && job.result !== null) return job.result;
      if (job.result_url) return (await fetch(job.result_url)).json();
      return null;
    }
    if (job.state === "failed") throw new ApiError(0, "job_failed", job.error || "the job failed", []);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Upload a file to a presigned S3 POST, reporting progress (0..1). */
export function uploadToPresignedPost({ url, fields }, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [key, value] of Object.entries(fields || {})) form.append(key, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300
        ? resolve()
        : reject(new ApiError(xhr.status, "upload_failed", `the upload was refused (HTTP ${xhr.status})`, []));
    xhr.onerror = () => reject(new ApiError(0, "network", "the upload was interrupted; try again", []));
    xhr.send(form);
  });
}

export function downloadBlob(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
