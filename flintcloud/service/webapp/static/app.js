/* flintcloud web app: pages over the JSON API (/api/v1, docs at /docs). No build step, no CDN.
   Every number on a page comes from the API; this script only fetches, lays out and draws. */
"use strict";

const main = document.getElementById("main");
const TOKEN_KEY = "flintcloud.token";
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

// ---------------------------------------------------------------- small helpers
function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function h(html) { const t = document.createElement("template"); t.innerHTML = html.trim(); return t.content; }
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
function authHeaders(extra = {}) { const t = token(); return t ? { ...extra, Authorization: `Bearer ${t}` } : extra; }

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status; this.problems = (body && body.problems) || [];
  }
}

async function api(path, opts = {}) {
  const headers = authHeaders(opts.json !== undefined ? { "Content-Type": "application/json" } : {});
  const resp = await fetch(path, { method: opts.method || "GET", headers,
    body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body });
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("json") ? await resp.json() : await resp.text();
  if (resp.status === 401) { location.hash = "#/login"; throw new ApiError(401, body); }
  if (!resp.ok) throw new ApiError(resp.status, typeof body === "object" ? body : { error: body });
  return body;
}
// Images and downloads need the token too: fetch them and hand the browser an object URL.
async function blobUrl(path) {
  const resp = await fetch(path, { headers: authHeaders() });
  if (!resp.ok) { let b = {}; try { b = await resp.json(); } catch (e) { /* not JSON */ } throw new ApiError(resp.status, b); }
  return URL.createObjectURL(await resp.blob());
}
async function download(path, filename) {
  const url = await blobUrl(path);
  const a = document.createElement("a"); a.href = url; a.download = filename; document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const fmt3 = new Intl.NumberFormat("en", { maximumSignificantDigits: 4 });
function num(v, digits) {
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v !== "number") return esc(v);
  return digits === 3 ? fmt3.format(v) : fmt.format(v);
}
// Units from the metric names metrics.json uses (…_tc, …_tc_per_ha, …_ha, …_tc_per_ha_yr).
function unitOf(key) {
  if (/_tco2e$/.test(key)) return "tCO2e";
  const gas = key.match(/^(co2|ch4|co)_.*_t$/);
  if (gas) return `t ${gas[1].toUpperCase()}`;
  if (/_tc_per_ha_yr$/.test(key)) return "tC/ha/yr";
  if (/_tc_per_yr$/.test(key)) return "tC/yr";
  if (/_tc_per_ha$/.test(key)) return "tC/ha";
  if (/_tc$/.test(key)) return "tC";
  if (/_ha$/.test(key)) return "ha";
  if (/year/.test(key)) return "year";
  if (/^n_/.test(key)) return "count";
  return "";
}
const ACRONYMS = { npp: "NPP", nep: "NEP", nbp: "NBP", c: "C", n: "Number of", co2: "CO2", ch4: "CH4", co: "CO",
  hwp: "HWP", dom: "dead organic matter" };
function label(key) {
  const words = key.replace(/_tco2e$|_tc.*$|_ha$|_t$/, "").split("_").map((w) => ACRONYMS[w] || w);
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
// Years print as years (2012), everything else as a quantity (224,485.9).
function value(key, v) { return unitOf(key) === "year" && typeof v === "number" ? String(v) : num(v); }
function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "–"; }
function statusBadge(status) { return status ? `<span class="badge status-${esc(status)}">${esc(status)}</span>` : `<span class="badge">no run</span>`; }
function problemList(problems) {
  return `<ul class="problems">${problems.map((p) => `<li>${esc(typeof p === "string" ? p : p.message)}</li>`).join("")}</ul>`;
}
function showError(where, err) {
  const problems = err.problems && err.problems.length ? problemList(err.problems) : "";
  where.replaceChildren(h(`<div class="panel" role="alert"><p class="error-text">${esc(err.message)}</p>${problems}</div>`));
}
function setPage(title, html) {
  document.title = `${title} · FLINT Cloud`;
  main.replaceChildren(h(html));
  main.focus();
}
function navCurrent(name) {
  document.querySelectorAll("[data-nav]").forEach((a) => a.toggleAttribute("aria-current", a.dataset.nav === name));
  document.querySelectorAll("[data-nav][aria-current]").forEach((a) => a.setAttribute("aria-current", "page"));
}

// ---------------------------------------------------------------- who is signed in
async function showWho() {
  const who = document.getElementById("who");
  try {
    const me = await api("/api/v1/whoami");
    who.replaceChildren(h(`Signed in as <strong>${esc(me.user)}</strong>${me.tokens ? ' <button class="secondary" id="signout">Sign out</button>' : ""}`));
    const out = document.getElementById("signout");
    if (out) out.onclick = () => { sessionStorage.removeItem(TOKEN_KEY); location.hash = "#/login"; };
    return me;
  } catch (err) { who.textContent = ""; return null; }
}

function pageLogin() {
  navCurrent("");
  setPage("Sign in", `
    <h1>Sign in</h1>
    <form id="login" class="panel">
      <div class="field"><label for="token">API token</label>
        <p class="help" id="token-help">Ask the service's operator for one (<code>flintcloud token create USER</code>).</p>
        <input id="token" name="token" type="password" autocomplete="current-password" aria-describedby="token-help" size="50" required></div>
      <button type="submit">Sign in</button> <span id="login-msg" role="alert"></span>
    </form>`);
  document.getElementById("login").onsubmit = async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    const me = await showWho();
    if (me) location.hash = "#/"; else document.getElementById("login-msg").textContent = "That token was not accepted.";
  };
}

// ---------------------------------------------------------------- simulations list
const HEADLINES = [["total_ecosystem_c_end_tc", "Total ecosystem C at end"], ["cumulative_nbp_tc", "Cumulative NBP"],
  ["total_disturbance_emissions_tc", "Disturbance emissions"]];
const metricsCache = new Map();

async function pageList(query) {
  navCurrent("simulations");
  const generation = ++listGeneration;
  const q = new URLSearchParams(query);
  const limit = Math.min(500, Number(q.get("limit") || 50));
  const offset = Number(q.get("offset") || 0);
  const title = q.get("title") || "";
  const status = q.get("status") || "";
  const sort = q.get("sort") || "created";
  const desc = q.get("desc") !== "0";
  setPage("Simulations", `
    <h1>Simulations</h1>
    <form class="toolbar" id="filters" role="search">
      <div class="grow"><label for="f-title">Search titles</label><br><input id="f-title" name="title" value="${esc(title)}" type="search"></div>
      <div><label for="f-status">Status</label><br><select id="f-status" name="status">
        ${["", "queued", "running", "succeeded", "failed", "cancelled"].map((s) => `<option value="${s}" ${s === status ? "selected" : ""}>${s || "any"}</option>`).join("")}
      </select></div>
      <div><label for="f-limit">Per page</label><br><select id="f-limit" name="limit">
        ${[25, 50, 100, 500].map((n) => `<option ${n === limit ? "selected" : ""}>${n}</option>`).join("")}</select></div>
      <button type="submit">Apply</button>
      <a class="button secondary" href="#/new">New simulation</a>
    </form>
    <div id="list" aria-live="polite"><p>Loading…</p></div>`);
  document.getElementById("filters").onsubmit = (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    location.hash = `#/?${new URLSearchParams({ title: f.get("title"), status: f.get("status"), limit: f.get("limit"), sort, desc: desc ? "1" : "0" })}`;
  };
  const where = document.getElementById("list");
  const listUrl = `/api/v1/simulations?${new URLSearchParams({ limit, offset, sort, desc: desc ? "true" : "false", ...(title && { title }), ...(status && { status }) })}`;
  let data;
  try {
    data = await api(listUrl);
  } catch (err) { showError(where, err); return; }
  const me = await api("/api/v1/whoami").catch(() => ({ user: "" }));
  const rows = data.items.map((s) => ({ ...s, status: s.latest_run ? s.latest_run.status : "", engine: (s.params.simulation || {}).engine || "libcbm" }));
  // The server orders the whole list (every page), so a new order starts again at the first page.
  const sortLink = (col, text) => {
    const next = new URLSearchParams({ title, status, limit, sort: col, desc: sort === col && desc ? "0" : "1" });
    const state = sort === col ? (desc ? "descending" : "ascending") : "none";
    return `<th scope="col" aria-sort="${state}"><a href="#/?${next}">${text}${sort === col ? (desc ? " ▼" : " ▲") : ""}</a></th>`;
  };
  const table = `
    <p>${data.total} simulation(s)${title ? ` matching “${esc(title)}”` : ""}.</p>
    <table id="sim-table">
      <caption class="visually-hidden">Your simulations</caption>
      <thead><tr>${sortLink("title", "Title")}<th scope="col">Owner</th>${sortLink("status", "Status")}${sortLink("created", "Created")}${sortLink("engine", "Engine")}
        ${HEADLINES.map(([, t]) => `<th scope="col" class="num">${t} (tC)</th>`).join("")}</tr></thead>
      <tbody>${rows.map((r) => `<tr data-sim="${esc(r.id)}">
        <td><a href="#/sim/${esc(r.id)}">${esc(r.title)}</a></td><td>${esc(me.user)}</td>
        <td data-status data-state="${esc(runState(r.latest_run))}">${statusCell(r.latest_run)}</td>
        <td>${when(r.created)}</td><td>${esc(r.engine)}</td>
        ${HEADLINES.map(([k]) => `<td class="num" data-metric="${k}">–</td>`).join("")}</tr>`).join("")}</tbody>
    </table>
    <nav class="pager" aria-label="Pages">
      ${offset > 0 ? `<a class="button secondary" href="#/?${new URLSearchParams({ title, status, limit, sort, desc: desc ? "1" : "0", offset: Math.max(0, offset - limit) })}">Previous</a>` : ""}
      <span>${data.total ? offset + 1 : 0}–${Math.min(offset + limit, data.total)} of ${data.total}</span>
      ${offset + limit < data.total ? `<a class="button secondary" href="#/?${new URLSearchParams({ title, status, limit, sort, desc: desc ? "1" : "0", offset: offset + limit })}">Next</a>` : ""}
    </nav>`;
  where.replaceChildren(h(table));
  // Headline figures of succeeded runs on this page only, and live status while anything is active.
  for (const r of rows) if (r.latest_run && r.latest_run.status === "succeeded") fillHeadlines(r.id, r.latest_run);
  if (rows.some((r) => r.latest_run && !FINAL.has(r.latest_run.status))) setTimeout(() => refreshList(generation, listUrl), LIST_REFRESH_MS);
}

// Live status on the list: only the status and headline cells of the rows shown are rewritten, in place, so the
// search box keeps its text and focus (re-rendering the page would erase what is typed and move focus to <main>).
const LIST_REFRESH_MS = 3000;
let listGeneration = 0;  // a newer render of the list stops the refresh loop of an older one
function runState(run) { return run ? `${run.id}:${run.status}:${run.status === "running" ? Math.round(100 * run.progress) : ""}` : ""; }
function statusCell(run) {
  return `${statusBadge(run ? run.status : "")}${run && run.status === "running" ? ` ${Math.round(100 * run.progress)} %` : ""}`;
}
async function refreshList(generation, listUrl) {
  if (generation !== listGeneration || !document.getElementById("sim-table")) return;
  let data = null;
  try { data = await api(listUrl); } catch (err) { /* try again at the next tick */ }
  if (generation !== listGeneration || !document.getElementById("sim-table")) return;
  let active = !data;
  for (const s of data ? data.items : []) {
    const run = s.latest_run;
    if (run && !FINAL.has(run.status)) active = true;
    const row = document.querySelector(`tr[data-sim="${CSS.escape(s.id)}"]`);
    const cell = row && row.querySelector("[data-status]");
    if (!cell || cell.dataset.state === runState(run)) continue;
    cell.dataset.state = runState(run);
    cell.innerHTML = statusCell(run);
    for (const [k] of HEADLINES) { const m = row.querySelector(`[data-metric="${k}"]`); if (m) m.textContent = "–"; }
    if (run && run.status === "succeeded") fillHeadlines(s.id, run);
  }
  if (active) setTimeout(() => refreshList(generation, listUrl), LIST_REFRESH_MS);
}

// The run record carries its headline metrics; older records without them are asked for once.
async function fillHeadlines(simId, run) {
  const cacheKey = `${simId}:${run.id}`;
  let m = (run.record && run.record.metrics) || metricsCache.get(cacheKey);
  if (!m) { try { m = await api(`/api/v1/simulations/${simId}/runs/${run.id}/results/metrics`); metricsCache.set(cacheKey, m); } catch (e) { return; } }
  const row = document.querySelector(`tr[data-sim="${CSS.escape(simId)}"]`);
  if (!row) return;
  for (const [k] of HEADLINES) { const cell = row.querySelector(`[data-metric="${k}"]`); if (cell) cell.textContent = num(m[k]); }
}

// ---------------------------------------------------------------- new simulation
function pageNew() {
  navCurrent("new");
  setPage("New simulation", `
    <h1>New simulation</h1>
    <form id="new-sim" class="panel">
      <div class="field"><label for="title">Title</label>
        <p class="help" id="title-help">A label for you; it is never used as a file name.</p>
        <input id="title" name="title" required maxlength="200" size="50" aria-describedby="title-help"></div>
      <fieldset class="field"><legend><strong>Inputs</strong></legend>
        <p><input type="radio" id="src-upload" name="source" value="upload" checked> <label for="src-upload">Upload a GCBM project</label>
          (a .zip of the project folder, or its files: GeoTIFF layers with their .json sidecars, gcbm_input.db)</p>
        <p><input type="file" id="files" name="files" multiple accept=".zip,.tif,.tiff,.json,.db,.cfg" aria-label="Project files"></p>
        <p><input type="radio" id="src-demo" name="source" value="demo"> <label for="src-demo">Start from the built-in demo landscape</label></p>
      </fieldset>
      <button type="submit" id="create">Create and upload</button>
    </form>
    <div id="upload-status" aria-live="polite"></div>`);
  document.getElementById("new-sim").onsubmit = async (ev) => {
    ev.preventDefault();
    const status = document.getElementById("upload-status");
    const source = new FormData(ev.target).get("source");
    const files = document.getElementById("files").files;
    if (source === "upload" && !files.length) { status.replaceChildren(h(`<p class="error-text" role="alert">Choose the project's .zip or files, or start from the built-in demo.</p>`)); return; }
    document.getElementById("create").disabled = true;
    try {
      const sim = await api("/api/v1/simulations", { method: "POST", json: { title: document.getElementById("title").value } });
      let result;
      if (source === "demo") {
        status.replaceChildren(h(`<p>Preparing the built-in demo…</p>`));
        result = await api(`/api/v1/simulations/${sim.id}/inputs/demo`, { method: "POST" });
      } else {
        result = await uploadWithProgress(`/api/v1/simulations/${sim.id}/inputs`, files, status);
      }
      showValidation(status, sim.id, result);
    } catch (err) { showError(status, err); } finally { document.getElementById("create").disabled = false; }
  };
}

function uploadWithProgress(path, files, where) {
  where.replaceChildren(h(`<label for="upload-bar">Uploading ${files.length} file(s)</label> <progress id="upload-bar" max="100" value="0"></progress> <span id="upload-pct">0 %</span>`));
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    const t = token(); if (t) xhr.setRequestHeader("Authorization", `Bearer ${t}`);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((100 * e.loaded) / e.total);
      document.getElementById("upload-bar").value = pct; document.getElementById("upload-pct").textContent = `${pct} %`;
    };
    xhr.onload = () => {
      let body = {}; try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body); else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { error: "the upload failed (network)" }));
    xhr.send(form);
  });
}

// Problems grouped by the file or layer they concern, all at once.
function validationHtml(v) {
  const errors = v.errors || [], warnings = v.warnings || [];
  const group = (items) => {
    const by = new Map();
    for (const p of items) { const k = p.layer || p.file || "project"; if (!by.has(k)) by.set(k, []); by.get(k).push(p); }
    return [...by].map(([k, ps]) => `<li><span class="problem-file">${esc(k)}</span><ul>${ps.map((p) => `<li>${esc(p.message)}</li>`).join("")}</ul></li>`).join("");
  };
  return `<div class="panel" role="status" id="validation">
      <p><strong>${v.valid ? "The project is valid." : `${errors.length} problem(s) to fix before a run.`}</strong>
        ${v.summary && v.summary.simulated_pixels ? ` ${num(v.summary.simulated_pixels)} pixels to simulate.` : ""}</p>
      ${errors.length ? `<h3>Errors</h3><ul class="problems" id="errors">${group(errors)}</ul>` : ""}
      ${warnings.length ? `<h3>Warnings</h3><ul class="problems">${group(warnings)}</ul>` : ""}</div>`;
}
// Files of an upload that a run never reads (GDAL's .aux.xml, config templates, CSVs beside the db, raw layers).
function skippedHtml(skipped) {
  if (!skipped || !skipped.length) return "";
  return `<details class="panel" id="skipped"><summary>${skipped.length} file(s) not stored: a run does not read them</summary>
    <ul>${skipped.map((k) => `<li><span class="problem-file">${esc(k.name)}</span>: ${esc(k.reason)}</li>`).join("")}</ul></details>`;
}
function showValidation(where, simId, result) {
  const v = result.validation || result;
  where.replaceChildren(h(`${validationHtml(v)}${skippedHtml(result.skipped)}<p><a class="button" href="#/sim/${esc(simId)}">Continue to the simulation</a></p>`));
}

// ---------------------------------------------------------------- one simulation: inputs, parameters, runs
async function pageSim(simId, query = "") {
  navCurrent("simulations");
  let sim, inputs, runs, schema, validation;
  try {
    [sim, inputs, runs, schema] = await Promise.all([api(`/api/v1/simulations/${simId}`), api(`/api/v1/simulations/${simId}/inputs`),
      api(`/api/v1/simulations/${simId}/runs`), api("/api/v1/params/schema")]);
    validation = await api(`/api/v1/simulations/${simId}/validation`).catch(() => null);
  } catch (err) { setPage("Not found", `<h1>Simulation</h1><div id="err"></div>`); showError(document.getElementById("err"), err); return; }
  const files = inputs.items || inputs.files || inputs;
  setPage(sim.title, `
    <h1>${esc(sim.title)}</h1>
    <p><a href="#/">All simulations</a> · created ${when(sim.created)}</p>
    <section aria-labelledby="h-inputs"><h2 id="h-inputs">Inputs</h2>
      <details id="input-files"><summary>${Array.isArray(files) ? files.length : 0} file(s)</summary>
        <ul id="input-list">${(Array.isArray(files) ? files : []).map((f) => `<li class="problem-file" data-path="${esc(f.path || f.name || f)}">${esc(f.path || f.name || f)}</li>`).join("")}</ul></details>
      <div id="sim-validation">${validation ? validationHtml(validation) : "<p>No inputs yet.</p>"}</div>
      <p><label for="more-files">Add or replace files</label> <input type="file" id="more-files" multiple> <button class="secondary" id="add-files">Upload</button></p>
    </section>
    <section aria-labelledby="h-params"><h2 id="h-params">Parameters</h2>
      <p class="help">Changed values are highlighted; the server checks them again when you save.</p>
      <form id="params-form">${paramsFormHtml(schema.fields, sim.params)}
        <button type="submit">Save parameters</button> <span id="params-msg" aria-live="polite"></span></form>
    </section>
    <section aria-labelledby="h-runs"><h2 id="h-runs">Runs</h2>
      <p><button id="start-run">Run this simulation</button> <span id="run-msg" aria-live="polite"></span></p>
      <table><thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col"></th></tr></thead>
      <tbody>${runs.items.map((r) => `<tr><td><a href="#/sim/${esc(simId)}/runs/${esc(r.id)}">${esc(r.id)}</a></td><td>${statusBadge(r.status)}</td>
        <td>${when(r.started)}</td><td>${when(r.finished)}</td>
        <td>${r.status === "succeeded" ? `<a href="#/sim/${esc(simId)}/runs/${esc(r.id)}/results">Results</a>` : ""}</td></tr>`).join("")}</tbody></table>
    </section>
    <p><button class="danger" id="delete-sim">Delete this simulation</button></p>`);
  wireParamsForm(schema.fields, sim);
  showCulprit(new URLSearchParams(query));
  document.getElementById("add-files").onclick = async () => {
    const fl = document.getElementById("more-files").files;
    if (!fl.length) return;
    const where = document.getElementById("sim-validation");
    try { const res = await uploadWithProgress(`/api/v1/simulations/${simId}/inputs`, fl, where); where.replaceChildren(h(validationHtml(res.validation || res) + skippedHtml(res.skipped))); }
    catch (err) { showError(where, err); }
  };
  document.getElementById("start-run").onclick = async () => {
    const msg = document.getElementById("run-msg");
    try { const run = await api(`/api/v1/simulations/${simId}/runs`, { method: "POST" }); location.hash = `#/sim/${simId}/runs/${run.id}`; }
    catch (err) { showError(msg, err); }
  };
  document.getElementById("delete-sim").onclick = async () => {
    if (!confirm(`Delete “${sim.title}” with its inputs and results?`)) return;
    try { await api(`/api/v1/simulations/${simId}`, { method: "DELETE" }); location.hash = "#/"; } catch (err) { alert(err.message); }
  };
}

// ?input=<path>, ?layer=<name> or ?key=<section.key> (a failed run's culprit): highlight it, scroll to it, focus it.
function showCulprit(q) {
  const input = q.get("input"), layer = q.get("layer"), key = q.get("key");
  let target = null;
  if (input || layer) {
    document.getElementById("input-files").open = true;
    const items = [...document.querySelectorAll("#input-list li")];
    const stem = (path) => path.split("/").pop().replace(/\.(tiff?|json)$/i, "").replace(/_moja$/, "");
    target = items.find((li) => li.dataset.path === input) || items.find((li) => layer && stem(li.dataset.path) === layer) || null;
    // the validation groups of that file or layer too
    document.querySelectorAll("#sim-validation .problem-file").forEach((el) => {
      const t = el.textContent;
      if ((input && (t === input || t.endsWith(`/${input}`))) || (layer && t === layer)) el.closest("li").classList.add("culprit");
    });
  } else if (key) {  // a parameter: its field in the form (keys the form does not show have none)
    const field = document.querySelector(`.field[data-key="${CSS.escape(key)}"]`);
    if (!field) return;
    field.classList.add("culprit");
    field.scrollIntoView({ block: "center" });
    document.getElementById(fieldId(key)).focus();
    return;
  }
  if (!target) return;
  target.classList.add("culprit");
  target.setAttribute("tabindex", "-1");
  target.setAttribute("aria-label", `${target.textContent}: named by the failed run`);
  target.scrollIntoView({ block: "center" });
  target.focus();
}

function getKey(obj, dotted) { return dotted.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), obj); }
function fieldId(key) { return `p-${key.replace(/\./g, "-")}`; }

function paramsFormHtml(fields, overrides) {
  const sections = [...new Set(fields.map((f) => f.key.split(".")[0]))];
  return sections.map((section) => `<fieldset><legend><strong>${esc(section)}</strong></legend>${fields.filter((f) => f.key.startsWith(section + ".")).map((f) => {
    const current = getKey(overrides, f.key);
    const value = current === undefined ? f.default : current;
    const id = fieldId(f.key), helpId = `${id}-help`, errId = `${id}-err`;
    let input;
    if (f.type === "bool") input = `<input type="checkbox" id="${id}" ${value ? "checked" : ""} aria-describedby="${helpId}">`;
    else if (f.multiple) input = `<select id="${id}" multiple size="${Math.min(8, f.choices.length)}" aria-describedby="${helpId}">${f.choices.map((c) => `<option ${(value || []).includes(c) ? "selected" : ""}>${esc(c)}</option>`).join("")}</select>`;
    else if (f.choices) input = `<select id="${id}" aria-describedby="${helpId}">${f.choices.map((c) => `<option ${c === value ? "selected" : ""}>${esc(c)}</option>`).join("")}</select>`;
    else if (f.type === "int" || f.type === "float") input = `<input type="number" id="${id}" value="${value ?? ""}" ${f.type === "int" ? 'step="1"' : 'step="any"'} ${f.minimum !== undefined ? `min="${f.minimum}"` : ""} ${f.maximum !== undefined ? `max="${f.maximum}"` : ""} ${f.nullable ? 'placeholder="not set"' : "required"} aria-describedby="${helpId} ${errId}">`;
    else if (f.type === "list") input = `<input id="${id}" value="${esc((value || []).join(", "))}" placeholder="${f.nullable ? "not set" : ""}" aria-describedby="${helpId} ${errId}">`;
    else input = `<input id="${id}" value="${esc(value ?? "")}" size="40" ${f.nullable ? 'placeholder="not set"' : ""} aria-describedby="${helpId} ${errId}">`;
    return `<div class="field" data-key="${esc(f.key)}"><label for="${id}">${esc(f.key.split(".").slice(1).join("."))}</label>
      <p class="help" id="${helpId}">${esc(f.help)}${f.minimum !== undefined ? ` (${f.minimum} to ${f.maximum})` : ""}</p>${input}
      <p class="error" id="${errId}" role="alert"></p></div>`;
  }).join("")}</fieldset>`).join("");
}

function readField(f) {
  const el = document.getElementById(fieldId(f.key));
  if (f.type === "bool") return el.checked;
  if (f.multiple) return [...el.selectedOptions].map((o) => o.value);
  const raw = el.value.trim();
  if (raw === "" && f.nullable) return null;
  if (f.type === "int" || f.type === "float") return raw === "" ? NaN : Number(raw);
  if (f.type === "list") return raw === "" ? null : raw.split(",").map((s) => s.trim()).filter(Boolean).map((s) => (/^-?\d+$/.test(s) ? Number(s) : s));
  return raw;
}
function checkField(f, v) {
  if ((f.type === "int" || f.type === "float") && v !== null) {
    if (Number.isNaN(v)) return "a number is needed";
    if (f.type === "int" && !Number.isInteger(v)) return "a whole number is needed";
    if (f.minimum !== undefined && v < f.minimum) return `at least ${f.minimum}`;
    if (f.maximum !== undefined && v > f.maximum) return `at most ${f.maximum}`;
  }
  if (f.multiple && !v.length) return "choose at least one";
  return "";
}

function wireParamsForm(fields, sim) {
  const form = document.getElementById("params-form");
  const mark = () => {
    for (const f of fields) {
      const v = readField(f);
      const changed = JSON.stringify(v) !== JSON.stringify(f.default);
      document.querySelector(`.field[data-key="${CSS.escape(f.key)}"]`).classList.toggle("changed", changed);
      document.getElementById(`${fieldId(f.key)}-err`).textContent = checkField(f, v);
    }
  };
  form.addEventListener("input", mark); form.addEventListener("change", mark); mark();
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const msg = document.getElementById("params-msg");
    const overrides = {};
    let bad = 0;
    for (const f of fields) {
      const v = readField(f);
      if (checkField(f, v)) { bad += 1; continue; }
      if (JSON.stringify(v) === JSON.stringify(f.default)) continue;
      const parts = f.key.split("."); let node = overrides;
      for (const p of parts.slice(0, -1)) node = node[p] = node[p] || {};
      node[parts[parts.length - 1]] = v;
    }
    const start = getKey(overrides, "simulation.start_year") ?? fields.find((f) => f.key === "simulation.start_year").default;
    const end = getKey(overrides, "simulation.end_year") ?? fields.find((f) => f.key === "simulation.end_year").default;
    if (end < start) { document.getElementById(`${fieldId("simulation.end_year")}-err`).textContent = `must not be before start_year (${start})`; bad += 1; }
    if (bad) { msg.textContent = `${bad} value(s) to correct.`; return; }
    try { await api(`/api/v1/simulations/${sim.id}`, { method: "PATCH", json: { params: overrides } }); msg.textContent = "Saved."; }
    catch (err) { showError(msg, err); }
  };
}

// ---------------------------------------------------------------- a run, live
async function pageRun(simId, runId) {
  navCurrent("simulations");
  let sim, run;
  try { [sim, run] = await Promise.all([api(`/api/v1/simulations/${simId}`), api(`/api/v1/simulations/${simId}/runs/${runId}`)]); }
  catch (err) { setPage("Not found", `<h1>Run</h1><div id="err"></div>`); showError(document.getElementById("err"), err); return; }
  setPage(`Run ${runId}`, `
    <h1>${esc(sim.title)}: run ${esc(runId)}</h1>
    <p><a href="#/sim/${esc(simId)}">Back to the simulation</a></p>
    <div class="panel">
      <p>Status: <span id="run-status" aria-live="polite">${statusBadge(run.status)}</span> · stage <strong id="run-stage">${esc(run.stage || "–")}</strong>
         · elapsed <span id="run-elapsed">–</span></p>
      <label for="run-progress">Progress</label> <progress id="run-progress" max="100" value="${Math.round(100 * run.progress)}"></progress>
      <span id="run-pct">${Math.round(100 * run.progress)} %</span>
      <p><button class="danger" id="cancel-run" ${FINAL.has(run.status) ? "disabled" : ""}>Cancel</button>
         <span id="run-links"></span></p>
      <div id="run-error"></div>
    </div>
    <h2>Log</h2><div class="log" id="run-log" role="log" aria-live="polite" tabindex="0"></div>`);
  document.getElementById("cancel-run").onclick = async () => {
    try { await api(`/api/v1/simulations/${simId}/runs/${runId}/cancel`, { method: "POST" }); } catch (err) { showError(document.getElementById("run-error"), err); }
  };
  let started = run.started;
  const tick = setInterval(() => {
    if (!document.getElementById("run-elapsed")) { clearInterval(tick); return; }
    if (started) document.getElementById("run-elapsed").textContent = `${Math.round(Date.now() / 1000 - started)} s`;
  }, 1000);
  followEvents(simId, runId, (event, data) => {
    if (!document.getElementById("run-log")) return false;
    if (event === "log") {
      const log = document.getElementById("run-log");
      log.append(document.createTextNode(data + "\n"));
      log.scrollTop = log.scrollHeight;
    } else if (event === "status" || event === "end") {
      if (!started && data.status === "running") started = Date.now() / 1000;
      document.getElementById("run-status").innerHTML = statusBadge(data.status);
      document.getElementById("run-stage").textContent = data.stage || "–";
      const pct = Math.round(100 * (data.status === "succeeded" ? 1 : data.progress || 0));
      document.getElementById("run-progress").value = pct;
      document.getElementById("run-pct").textContent = `${pct} %`;
      if (FINAL.has(data.status)) {
        clearInterval(tick);
        api(`/api/v1/simulations/${simId}/runs/${runId}`).then((r) => {  // the run's own start and end
          if (r.started && r.finished) document.getElementById("run-elapsed").textContent = `${Math.round(r.finished - r.started)} s`;
        }).catch(() => {});
        document.getElementById("cancel-run").disabled = true;
        if (data.status === "succeeded") document.getElementById("run-links").innerHTML = `<a class="button" id="results-link" href="#/sim/${esc(simId)}/runs/${esc(runId)}/results">See the results</a>`;
        if (data.status === "failed") document.getElementById("run-error").replaceChildren(h(`<div role="alert"><p class="error-text">${esc(data.error || "the run failed")}</p>
          <p>${culpritLink(simId, data.culprit)}</p></div>`));
      }
    }
    return true;
  });
}

// A failed run's error names its culprit (the runner records it): link to that input or parameter on the
// simulation page, which highlights it (#/sim/<id>?input=<path>[&layer=<name>], ?layer=<name> or ?key=<section.key>).
function culpritLink(simId, culprit) {
  const c = culprit || {};
  const link = (query, text) => `<a id="culprit-link" href="#/sim/${esc(simId)}?${esc(new URLSearchParams(query))}">${text}</a>`;
  if (c.input) return link({ input: c.input, ...(c.layer && { layer: c.layer }) }, `Check the input it names: <span class="problem-file">${esc(c.input)}</span>${c.layer ? ` (layer ${esc(c.layer)})` : ""}`);
  if (c.key) return link({ key: c.key }, `Check the parameter it names: <span class="problem-file">${esc(c.key)}</span>`);
  if (c.layer) return link({ layer: c.layer }, `Check the layer it names: <span class="problem-file">${esc(c.layer)}</span>`);
  return `<a href="#/sim/${esc(simId)}">Check the inputs and parameters it names</a>`;
}

// Server-Sent Events through fetch (EventSource cannot send the Authorization header).
async function followEvents(simId, runId, onEvent) {
  const resp = await fetch(`/api/v1/simulations/${simId}/runs/${runId}/events`, { headers: authHeaders({ Accept: "text/event-stream" }) });
  if (!resp.ok || !resp.body) return;
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let event = "message"; const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      const text = data.join("\n");
      let payload = text; if (event !== "log") { try { payload = JSON.parse(text); } catch (e) { /* text */ } }
      if (onEvent(event, payload) === false) { reader.cancel(); return; }
    }
  }
}

// ---------------------------------------------------------------- results
function embed(target, spec) {
  // titles start at the left and wrap instead of overflowing a narrow chart
  const title = typeof spec.title === "string" ? { text: spec.title.split("; "), anchor: "start", fontSize: 12 } : spec.title;
  return vegaEmbed(target, { $schema: "https://vega.github.io/schema/vega-lite/v5.json", width: "container", height: 240, ...spec, title },
    { actions: { export: true, source: false, compiled: false, editor: false }, renderer: "svg" });
}
function fold(rows, keep) { return rows.flatMap((r) => Object.keys(r).filter((k) => !keep.includes(k)).map((k) => ({ ...Object.fromEntries(keep.map((c) => [c, r[c]])), series: k, value: r[k] }))); }

function drawCharts(plots) {
  const year = { field: "year", type: "quantitative", axis: { format: "d" } };
  if (plots.stocks) {
    // The first row is the state after spinup (the end of the year before the first simulated year).
    const first = plots.stocks[0].year;
    embed("#chart-stocks", { title: "Carbon stocks by pool (tC); dashed: after spinup", data: { values: fold(plots.stocks, ["year"]) },
      layer: [{ mark: { type: "line", point: true }, encoding: { x: year, y: { field: "value", type: "quantitative", title: "tC" }, color: { field: "series", title: "pool" } } },
        { mark: { type: "rule", strokeDash: [4, 4], color: "#555" }, encoding: { x: { datum: first, type: "quantitative" } } }] });
  }
  if (plots.stock_changes) embed("#chart-fluxes", { title: "NPP, Rh, NEP, NBP (tC/yr); bars: disturbance losses (NEP - NBP)",
    layer: [
      { data: { values: plots.stock_changes.filter((r) => r.disturbance_losses !== undefined).map((r) => ({ year: r.year, value: -r.disturbance_losses })) },
        mark: { type: "bar", color: "#c9b3e6", opacity: 0.8 }, encoding: { x: year, y: { field: "value", type: "quantitative", title: "tC/yr" } } },
      { data: { values: fold(plots.stock_changes.map((r) => ({ year: r.year, NPP: r.npp, Rh: r.rh, NEP: r.nep, NBP: r.nbp })), ["year"]) },
        mark: { type: "line", point: true }, encoding: { x: year, y: { field: "value", type: "quantitative" }, color: { field: "series", title: "flux" } } }] });
  if (plots.disturbance_emissions) embed("#chart-disturbances", { title: "Carbon lost by disturbance type over the run (tC)",
    data: { values: fold(plots.disturbance_emissions.map((r) => ({ disturbance_type: r.disturbance_type, emitted: r.emissions_tc, "to products": r.to_products_tc,
      ...(r.biomass_to_dom_tc !== undefined ? { "biomass to dead organic matter": r.biomass_to_dom_tc } : {}) })), ["disturbance_type"]) },
    mark: "bar", encoding: { y: { field: "disturbance_type", type: "nominal", title: null }, x: { field: "value", type: "quantitative", title: "tC" },
      color: { field: "series", title: "" } } });
  if (plots.age_classes) {
    const rows = plots.age_classes.flatMap((r) => [{ age_range: r.age_range, when: "end", area_ha: r.area_ha },
      ...(r.area_ha_start !== undefined ? [{ age_range: r.age_range, when: "start", area_ha: r.area_ha_start }] : [])]);
    embed("#chart-ages", { title: "Area by age class (ha), first and last year", data: { values: rows }, mark: "bar",
      encoding: { x: { field: "age_range", type: "ordinal", sort: null, title: "age (years)" }, xOffset: { field: "when", sort: ["start", "end"] },
        y: { field: "area_ha", type: "quantitative", title: "ha" }, color: { field: "when", sort: ["start", "end"], title: "" } } });
  }
  if (plots.emissions) embed("#chart-emissions", { title: "Net emissions (+) / removals (-), UNFCCC sign (tCO2e)",
    data: { values: plots.emissions }, mark: "bar", encoding: { x: { field: "year", type: "ordinal" }, y: { field: "net_tco2e", type: "quantitative", title: "tCO2e" },
      color: { condition: { test: "datum.net_tco2e > 0", value: "#b3261e" }, value: "#1a7f37" } } });
}

async function pageResults(simId, runId) {
  navCurrent("simulations");
  let sim, metrics, plots, maps, index;
  try {
    [sim, metrics, plots, maps, index] = await Promise.all([api(`/api/v1/simulations/${simId}`), api(`${resultsPath(simId, runId)}/metrics`),
      api(`${resultsPath(simId, runId)}/plots`), api(`${resultsPath(simId, runId)}/maps`), api(resultsPath(simId, runId))]);
  } catch (err) { setPage("Results", `<h1>Results</h1><div id="err"></div>`); showError(document.getElementById("err"), err); return; }
  const indicators = Object.keys(maps);
  setPage(`Results: ${sim.title}`, `
    <h1>Results: ${esc(sim.title)}</h1>
    <p><a href="#/sim/${esc(simId)}">Back to the simulation</a> · <a href="#/compare?runs=${encodeURIComponent(`${simId}:${runId}`)}">Compare with another run</a></p>
    <h2>Headline figures</h2>
    <table id="headline"><thead><tr><th scope="col">Quantity</th><th scope="col" class="num">Value</th><th scope="col">Unit</th></tr></thead>
      <tbody>${Object.entries(metrics).filter(([, v]) => typeof v === "number").map(([k, v]) => `<tr><td>${esc(label(k))}</td><td class="num">${value(k, v)}</td><td>${esc(unitOf(k))}</td></tr>`).join("")}</tbody></table>
    <h2>Charts</h2>
    <div class="grid2"><div class="chart" id="chart-stocks"></div><div class="chart" id="chart-fluxes"></div>
      <div class="chart" id="chart-disturbances"></div><div class="chart" id="chart-ages"></div>
      <div class="chart" id="chart-emissions"></div></div>
    <h2>Maps</h2>
    ${indicators.length ? `<div class="toolbar"><div><label for="map-indicator">Indicator</label><br><select id="map-indicator">${indicators.map((i) => `<option>${esc(i)}</option>`).join("")}</select></div>
      <div class="grow"><label for="map-year">Year: <output id="map-year-label"></output></label><br><input type="range" id="map-year" min="0" value="0" step="1"></div></div>
      <figure class="map"><img id="map-img" alt=""><figcaption id="map-caption"></figcaption></figure>` : "<p>This run wrote no maps.</p>"}
    <h2>Downloads</h2>
    <ul id="downloads">
      <li><button class="secondary" data-dl="report.html">Report (HTML)</button> <button class="secondary" data-dl="report.md">Report (Markdown)</button></li>
      <li>Tables as CSV: ${(index.tables || []).map((t) => `<button class="secondary" data-dl="tables/${esc(t)}.csv">${esc(t)}</button>`).join(" ")}</li>
      <li><button class="secondary" data-dl="archive.zip">Everything (.zip)</button> <button class="secondary" data-dl="dvc-project.zip">Reproducible DVC project (.zip)</button></li>
      <li>Maps (GeoTIFF): <select id="dl-map" aria-label="Map to download">${(index.maps || []).map((m) => `<option>${esc(m)}</option>`).join("")}</select> <button class="secondary" id="dl-map-btn">Download map</button></li>
    </ul>`);
  drawCharts(plots);
  document.querySelectorAll("[data-dl]").forEach((b) => { b.onclick = () => download(`${resultsPath(simId, runId)}/${b.dataset.dl}`, b.dataset.dl.split("/").pop()); });
  const dlMap = document.getElementById("dl-map-btn");
  if (dlMap) dlMap.onclick = () => { const n = document.getElementById("dl-map").value; download(`${resultsPath(simId, runId)}/maps/${encodeURIComponent(n)}`, n); };
  if (indicators.length) wireMap(simId, runId, maps);
}
function resultsPath(simId, runId) { return `/api/v1/simulations/${simId}/runs/${runId}/results`; }

function wireMap(simId, runId, maps) {
  const sel = document.getElementById("map-indicator"), slider = document.getElementById("map-year"), img = document.getElementById("map-img");
  const prefer = ["Total_Ecosystem_C", "NBP"].find((i) => maps[i]); if (prefer) sel.value = prefer;
  slider.max = maps[sel.value].years.length - 1; slider.value = slider.max;  // the run's last year first
  const update = async () => {
    const entry = maps[sel.value];
    slider.max = entry.years.length - 1; if (Number(slider.value) > entry.years.length - 1) slider.value = entry.years.length - 1;
    const year = entry.years[Number(slider.value)];
    document.getElementById("map-year-label").textContent = year;
    slider.setAttribute("aria-valuetext", String(year));
    const name = `${sel.value}_${year}.tif`;
    try {
      const url = await blobUrl(`${resultsPath(simId, runId)}/maps/${encodeURIComponent(name)}/preview.png`);
      if (img.src) URL.revokeObjectURL(img.src);
      img.src = url; img.alt = `Map of ${sel.value} in ${year} (${entry.units}); grey is nodata`;
      document.getElementById("map-caption").textContent = `${sel.value.replace(/_/g, " ")}, ${year}, ${entry.units}. Grey: nodata (outside the simulated area).`;
    } catch (err) { document.getElementById("map-caption").textContent = err.message; }
  };
  sel.onchange = update; slider.oninput = update; update();
}

// ---------------------------------------------------------------- compare
async function pageCompare(query) {
  navCurrent("compare");
  const q = new URLSearchParams(query);
  const refs = (q.get("runs") || "").split(",").filter(Boolean);
  const sims = await api("/api/v1/simulations?limit=500").catch(() => ({ items: [] }));
  const options = sims.items.filter((s) => s.latest_run && s.latest_run.status === "succeeded")
    .map((s) => ({ ref: `${s.id}:${s.latest_run.id}`, title: s.title }));
  setPage("Compare", `
    <h1>Compare runs</h1>
    <form class="panel" id="compare-form"><fieldset><legend><strong>Runs to compare (two or more; the first is the base)</strong></legend>
      ${options.length ? options.map((o, i) => `<p><input type="checkbox" id="cmp-${i}" name="runs" value="${esc(o.ref)}" ${refs.includes(o.ref) ? "checked" : ""}>
        <label for="cmp-${i}">${esc(o.title)}</label> <small>(${esc(o.ref)})</small></p>`).join("") : "<p>No succeeded runs yet.</p>"}</fieldset>
      <button type="submit">Compare</button></form>
    <div id="comparison" aria-live="polite"></div>`);
  document.getElementById("compare-form").onsubmit = (ev) => {
    ev.preventDefault();
    const chosen = [...document.querySelectorAll('input[name="runs"]:checked')].map((i) => i.value);
    location.hash = `#/compare?runs=${encodeURIComponent(chosen.join(","))}`;
  };
  if (refs.length >= 2) await drawComparison(refs, document.getElementById("comparison"));
  else if (refs.length === 1) document.getElementById("comparison").textContent = "Choose at least one more run.";
}

async function drawComparison(refs, where) {
  let runs;
  try {
    runs = await Promise.all(refs.map(async (ref) => {
      const [simId, runId] = ref.split(":");
      const [sim, run, metrics, plots, maps] = await Promise.all([api(`/api/v1/simulations/${simId}`), api(`/api/v1/simulations/${simId}/runs/${runId}`),
        api(`${resultsPath(simId, runId)}/metrics`), api(`${resultsPath(simId, runId)}/plots`), api(`${resultsPath(simId, runId)}/maps`)]);
      return { ref, simId, runId, name: sim.title, sim, run, metrics, plots, maps };
    }));
  } catch (err) { showError(where, err); return; }
  const base = runs[0];
  // What differs in params and inputs.
  const flat = (obj, prefix = "") => Object.entries(obj || {}).flatMap(([k, v]) => (v && typeof v === "object" && !Array.isArray(v) ? flat(v, `${prefix}${k}.`) : [[`${prefix}${k}`, JSON.stringify(v)]]));
  const paramsOf = (r) => Object.fromEntries(flat((r.run.record || {}).params || r.sim.params));
  const inputsOf = (r) => (r.run.record || {}).inputs || {};
  const pKeys = [...new Set(runs.flatMap((r) => Object.keys(paramsOf(r))))].filter((k) => new Set(runs.map((r) => paramsOf(r)[k])).size > 1).sort();
  const iKeys = [...new Set(runs.flatMap((r) => Object.keys(inputsOf(r))))].filter((k) => new Set(runs.map((r) => JSON.stringify(inputsOf(r)[k]))).size > 1).sort();
  const mKeys = Object.keys(base.metrics).filter((k) => typeof base.metrics[k] === "number");
  const diffCell = (v, b) => { if (typeof v !== "number" || typeof b !== "number") return "<td></td>"; const d = v - b; return `<td class="num ${d > 0 ? "diff-pos" : d < 0 ? "diff-neg" : ""}">${d > 0 ? "+" : ""}${num(d)}</td>`; };
  const maps = Object.keys(base.maps).filter((i) => runs.every((r) => r.maps[i]));
  where.replaceChildren(h(`
    <h2>What differs</h2>
    ${pKeys.length ? `<table id="params-diff"><thead><tr><th scope="col">Parameter</th>${runs.map((r) => `<th scope="col">${esc(r.name)}</th>`).join("")}</tr></thead>
      <tbody>${pKeys.map((k) => `<tr><td>${esc(k)}</td>${runs.map((r) => `<td>${esc(paramsOf(r)[k] ?? "–")}</td>`).join("")}</tr>`).join("")}</tbody></table>` : "<p>The same parameters.</p>"}
    ${iKeys.length ? `<p>${iKeys.length} input file(s) differ: ${iKeys.map(esc).join(", ")}</p>` : "<p>The same input files (by content hash).</p>"}
    <h2>Metrics</h2>
    <table id="metrics-diff"><thead><tr><th scope="col">Quantity</th><th scope="col">Unit</th>${runs.map((r, i) => `<th scope="col" class="num">${esc(r.name)}</th>${i ? `<th scope="col" class="num">${esc(r.name)} − ${esc(base.name)}</th>` : ""}`).join("")}</tr></thead>
      <tbody>${mKeys.map((k) => `<tr><td>${esc(label(k))}</td><td>${esc(unitOf(k))}</td>${runs.map((r, i) => `<td class="num">${value(k, r.metrics[k])}</td>${i ? diffCell(r.metrics[k], base.metrics[k]) : ""}`).join("")}</tr>`).join("")}</tbody></table>
    <h2>Yearly series</h2>
    <div class="grid2"><div class="chart" id="cmp-stocks"></div><div class="chart" id="cmp-nbp"></div></div>
    <h2>Difference maps</h2>
    ${maps.length ? `<div class="toolbar"><div><label for="cmp-indicator">Indicator</label><br><select id="cmp-indicator">${maps.map((i) => `<option>${esc(i)}</option>`).join("")}</select></div>
      <div><label for="cmp-year">Year</label><br><select id="cmp-year"></select></div></div><div id="cmp-maps" class="grid2"></div>` : "<p>No map in common.</p>"}`));
  const series = (pick) => runs.flatMap((r) => (r.plots.stock_changes && pick === "nbp" ? r.plots.stock_changes.map((row) => ({ year: row.year, value: row.nbp, run: r.name }))
    : (r.plots.stocks || []).map((row) => ({ year: row.year, value: row.total_ecosystem, run: r.name }))));
  embed("#cmp-stocks", { title: "Total ecosystem C (tC)", data: { values: series("stocks") }, mark: { type: "line", point: true },
    encoding: { x: { field: "year", type: "quantitative", axis: { format: "d" } }, y: { field: "value", type: "quantitative", title: "tC", scale: { zero: false } }, color: { field: "run", title: "run" } } });
  embed("#cmp-nbp", { title: "NBP (tC/yr)", data: { values: series("nbp") }, mark: { type: "line", point: true },
    encoding: { x: { field: "year", type: "quantitative", axis: { format: "d" } }, y: { field: "value", type: "quantitative", title: "tC/yr" }, color: { field: "run", title: "run" } } });
  if (maps.length) wireDifferenceMaps(runs, base);
}

function wireDifferenceMaps(runs, base) {
  const ind = document.getElementById("cmp-indicator"), yearSel = document.getElementById("cmp-year"), box = document.getElementById("cmp-maps");
  const fillYears = () => {
    const years = base.maps[ind.value].years.filter((y) => runs.every((r) => r.maps[ind.value].years.includes(y)));
    yearSel.innerHTML = years.map((y) => `<option>${y}</option>`).join(""); yearSel.value = years[years.length - 1];
  };
  const update = async () => {
    const name = `${ind.value}_${yearSel.value}.tif`;
    const others = runs.slice(1);
    box.replaceChildren(h(`<p>Loading…</p>`));
    try {
      // One symmetric colour scale shared by every difference map: the largest |difference| of all of them.
      const infos = await Promise.all(others.map((r) => api(`/api/v1/compare/maps/${encodeURIComponent(name)}/difference?${new URLSearchParams({ a: base.ref, b: r.ref })}`)));
      const limit = Math.max(...infos.map((i) => Math.max(Math.abs(i.min || 0), Math.abs(i.max || 0))), 1e-9);
      const urls = await Promise.all(others.map((r) => blobUrl(`/api/v1/compare/maps/${encodeURIComponent(name)}/difference.png?${new URLSearchParams({ a: base.ref, b: r.ref, limit })}`)));
      box.replaceChildren(h(others.map((r, i) => `<figure class="map"><img src="${urls[i]}" alt="Difference map: ${esc(r.name)} minus ${esc(base.name)}, ${esc(name)}">
        <figcaption>${esc(r.name)} − ${esc(base.name)}: ${esc(ind.value)} ${esc(yearSel.value)}, scale ±${num(limit, 3)} shared by all maps</figcaption></figure>`).join("")));
    } catch (err) { showError(box, err); }
  };
  ind.onchange = () => { fillYears(); update(); }; yearSel.onchange = update; fillYears(); update();
}

// ---------------------------------------------------------------- FLINT examples
// The first config document holds the run (LocalDomain dates, Pools); the form edits those, the JSON the rest.
// FLINT's Pools: a list of names (initial value 0), of {name: value}, or an object {name: value | {value}}.
function poolsOf(doc) {
  const pools = doc.Pools || {};
  if (Array.isArray(pools)) return pools.map((p) => (typeof p === "string" ? [p, 0] : Object.entries(p)[0]));
  return Object.entries(pools).map(([k, v]) => [k, v !== null && typeof v === "object" ? v.value : v]);
}
function setPool(doc, name, value) {
  if (Array.isArray(doc.Pools)) {
    const i = doc.Pools.findIndex((p) => (typeof p === "string" ? p === name : name in p));
    if (i >= 0 && (typeof doc.Pools[i] !== "string" || value !== 0)) doc.Pools[i] = { [name]: value };
  } else if (doc.Pools && doc.Pools[name] !== null && typeof doc.Pools[name] === "object") doc.Pools[name].value = value;
  else if (doc.Pools) doc.Pools[name] = value;
}

async function pageFlint(which) {
  navCurrent("flint");
  setPage("FLINT examples", `<h1>FLINT examples</h1>
    <p>FLINT's own example models, computed as FLINT computes them: <a href="#/flint/point">Point</a> (three pools and three test modules) ·
      <a href="#/flint/rothc">RothC</a> (the Rothamsted soil carbon model, monthly).</p><div id="flint"></div>`);
  const where = document.getElementById("flint");
  let example;
  try { example = await api(`/api/v1/flint/${which}/config`); } catch (err) { showError(where, err); return; }
  const run = example.configs[0];
  const pools = poolsOf(run);
  where.replaceChildren(h(`<h2>${which === "point" ? "Point" : "RothC"}</h2>
    <form id="flint-form" class="panel">
      <div class="toolbar">
        <div><label for="flint-start">Start date</label><br><input id="flint-start" value="${esc(run.LocalDomain.start_date)}" pattern="\\d{4}/\\d{2}/\\d{2}" aria-describedby="flint-date-help"></div>
        <div><label for="flint-end">End date</label><br><input id="flint-end" value="${esc(run.LocalDomain.end_date)}" pattern="\\d{4}/\\d{2}/\\d{2}" aria-describedby="flint-date-help"></div>
        <p class="help" id="flint-date-help">yyyy/mm/dd, as FLINT's LocalDomain writes them.</p>
      </div>
      <fieldset><legend><strong>Initial pool values</strong></legend><div class="toolbar">
        ${pools.map(([name, v], i) => `<div><label for="flint-pool-${i}">${esc(name)}</label><br><input type="number" step="any" id="flint-pool-${i}" data-pool="${esc(name)}" value="${v}"></div>`).join("")}
      </div></fieldset>
      <details><summary>The whole configuration (FLINT JSON: variables, time series, module settings)</summary>
        <label for="flint-config">Configuration documents, merged in order</label>
        <textarea id="flint-config" rows="18" cols="100">${esc(JSON.stringify(example.configs, null, 2))}</textarea></details>
      <p><button type="submit">Run</button> <span id="flint-msg" aria-live="polite"></span></p></form>
    <div class="chart" id="flint-chart"></div><div id="flint-table"></div>`));
  document.getElementById("flint-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const msg = document.getElementById("flint-msg");
    let configs;
    try { configs = JSON.parse(document.getElementById("flint-config").value); } catch (e) { msg.textContent = `The configuration is not JSON: ${e.message}`; return; }
    configs[0].LocalDomain.start_date = document.getElementById("flint-start").value;
    configs[0].LocalDomain.end_date = document.getElementById("flint-end").value;
    document.querySelectorAll("[data-pool]").forEach((input) => setPool(configs[0], input.dataset.pool, Number(input.value)));
    msg.textContent = "Running…";
    try {
      const out = await api(`/api/v1/flint/${which}`, { method: "POST", json: { configs } });
      msg.textContent = `${out.records.length} rows (FLINT's stock output).`;
      const values = out.records.flatMap((r) => out.pools.map((p) => ({ step: r.step, date: r.stepDate, pool: p, value: r[p] })));
      embed("#flint-chart", { title: "Pools over time", data: { values }, mark: "line",
        encoding: { x: { field: "step", type: "quantitative", title: "step" }, y: { field: "value", type: "quantitative", title: "pool value" },
          color: { field: "pool", title: "pool" }, tooltip: [{ field: "date" }, { field: "pool" }, { field: "value" }] } });
      const last = out.records[out.records.length - 1];
      document.getElementById("flint-table").replaceChildren(h(`<h3>At the last step (${esc(last.stepDate)})</h3><table id="flint-last"><thead><tr><th scope="col">Pool</th><th scope="col" class="num">Value</th></tr></thead>
        <tbody>${out.pools.map((p) => `<tr><td>${esc(p)}</td><td class="num">${num(last[p], 3)}</td></tr>`).join("")}</tbody></table>`));
    } catch (err) { showError(msg, err); }
  };
}

// ---------------------------------------------------------------- routing
async function route() {
  const [path, query = ""] = (location.hash.slice(1) || "/").split("?");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "login") return pageLogin();
  const me = await showWho();
  if (!me) return pageLogin();
  if (parts.length === 0) return pageList(query);
  if (parts[0] === "new") return pageNew();
  if (parts[0] === "compare") return pageCompare(query);
  if (parts[0] === "flint") return pageFlint(parts[1] === "rothc" ? "rothc" : "point");
  if (parts[0] === "sim" && parts.length === 2) return pageSim(parts[1], query);
  if (parts[0] === "sim" && parts[2] === "runs" && parts.length === 4) return pageRun(parts[1], parts[3]);
  if (parts[0] === "sim" && parts[2] === "runs" && parts[4] === "results") return pageResults(parts[1], parts[3]);
  setPage("Not found", `<h1>Page not found</h1><p><a href="#/">Simulations</a></p>`);
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
