// polyroute web UI: vanilla JS, no inline script (the CSP forbids it). Model output arrives as
// text while streaming (set with textContent, never parsed) and, once whole, as HTML the server
// sanitised (rendering.py); nothing an answer contains can run here.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = document.body.dataset.page;
const CSRF = document.body.dataset.csrf;

function post(url, body, signal) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": CSRF },
    body: JSON.stringify(body || {}),
    signal,
  });
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (response.status === 401 && body.error.code !== "invalid_key") {
      window.location.assign("/login");
    }
    return body.error.message;
  } catch (_) {
    return `The server answered HTTP ${response.status}.`;
  }
}

function showError(message) {
  const box = $("error") || $("login-error");
  if (!box) return;
  box.textContent = message || "";
  box.hidden = !message;
}

// Server-sent events from a fetch body (EventSource cannot POST or send the CSRF header).
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }
}

function noteEl(text, isError) {
  const note = document.createElement("span");
  note.className = "note" + (isError ? " error" : "");
  note.textContent = text;
  return note;
}

function messageEl(message) {
  const div = document.createElement("div");
  div.className = "msg " + message.role;
  if (message.role === "assistant") {
    div.innerHTML = message.html; // sanitised on the server
  } else {
    div.textContent = message.text;
    if (message.images) {
      const tag = document.createElement("span");
      tag.className = "images";
      tag.textContent = `[${message.images} image${message.images > 1 ? "s" : ""} attached]`;
      div.appendChild(tag);
    }
  }
  if (message.note) div.appendChild(noteEl(message.note === "stopped" ? "(stopped)" : "(failed)", message.note !== "stopped"));
  return div;
}

// ---- login -------------------------------------------------------------------------------------
function setupLogin() {
  const submit = async (body) => {
    showError("");
    const response = await post("/login", body);
    if (!response.ok) return showError(await errorOf(response));
    const next = (await response.json()).next;
    window.location.assign(next);
  };
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit({ key: $("key").value });
  });
  const local = $("local-login");
  if (local) local.addEventListener("click", () => submit({ local: true }));
}

// ---- chat and arena pages ----------------------------------------------------------------------
class Conversation {
  constructor() {
    this.sides = PAGE === "chat" ? ["a"] : ["a", "b"];
    this.state = null;
    this.limits = null;
    this.models = [];
    this.vision = [];
    this.image = null;
    this.controller = null;
    this.streaming = {};
  }

  async start() {
    this.bind();
    const [stateResponse, modelsResponse] = await Promise.all([
      fetch(`/api/${PAGE}/state`, { credentials: "same-origin" }),
      fetch("/api/models", { credentials: "same-origin" }),
    ]);
    if (!stateResponse.ok) return showError(await errorOf(stateResponse));
    const payload = await stateResponse.json();
    this.limits = payload.limits;
    if (modelsResponse.ok) {
      const listed = await modelsResponse.json();
      this.models = listed.models;
      this.vision = listed.vision;
    } else {
      showError(await errorOf(modelsResponse));
    }
    this.fillPickers();
    this.render(payload.state);
    document.body.dataset.ready = "1";
  }

  fillPickers() {
    const pickers = PAGE === "chat" ? ["model"] : PAGE === "named" ? ["model-a", "model-b"] : [];
    pickers.forEach((id, i) => {
      const select = $(id);
      for (const name of this.models) {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        select.appendChild(option);
      }
      if (this.models.length > i) select.selectedIndex = i;
      select.addEventListener("change", () => this.updateControls());
    });
  }

  bind() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      this.send("send");
    });
    $("prompt").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.send("send");
      }
    });
    $("prompt").addEventListener("input", () => this.updateCounter());
    $("stop").addEventListener("click", () => this.stop());
    $("regenerate").addEventListener("click", () => this.send("regenerate"));
    $("clear").addEventListener("click", () => this.clear());
    $("image").addEventListener("change", () => this.readImage());
    for (const button of document.querySelectorAll("button.vote")) {
      button.addEventListener("click", () => this.vote(button.dataset.vote));
    }
    for (const [id, out] of [["temperature", "temperature-out"], ["top-p", "top-p-out"]]) {
      $(id).addEventListener("input", () => { $(out).textContent = $(id).value; });
    }
  }

  updateCounter() {
    if (!this.limits) return;
    const length = $("prompt").value.length;
    const counter = $("counter");
    counter.textContent = length > this.limits.input_chars * 0.8 ? `${length} / ${this.limits.input_chars} characters` : "";
  }

  readImage() {
    const file = $("image").files[0];
    this.image = null;
    $("image-name").textContent = "";
    if (!file) return;
    if (this.limits && file.size > this.limits.image_bytes) {
      showError(`The image is larger than ${Math.floor(this.limits.image_bytes / 1048576)} MB.`);
      $("image").value = "";
      return;
    }
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      this.image = reader.result;
      $("image-name").textContent = `attached: ${file.name}`;
      $("image-name").dataset.ready = "1";
    });
    reader.readAsDataURL(file);
  }

  params() {
    const params = {
      temperature: Number($("temperature").value),
      top_p: Number($("top-p").value),
    };
    const maxTokens = $("max-tokens").value;
    if (maxTokens) params.max_tokens = Number(maxTokens);
    return params;
  }

  render(state) {
    this.state = state;
    this.sides.forEach((name, i) => {
      const box = $(`messages-${name}`);
      box.replaceChildren();
      const side = state ? state.sides[i] : null;
      if (side) for (const message of side.messages) box.appendChild(messageEl(message));
      box.scrollTop = box.scrollHeight;
      const label = $(`name-${name}`);
      if (label) label.textContent = side && side.model ? side.model : PAGE === "anonymous" ? "hidden" : "";
    });
    if (state && PAGE === "chat") {
      $("model").value = state.sides[0].model;
      $("system-prompt").value = state.system_prompt;
    }
    if (state && PAGE === "named") {
      $("model-a").value = state.sides[0].model;
      $("model-b").value = state.sides[1].model;
    }
    const status = $("vote-status");
    if (status) {
      let text = "";
      if (state && state.vote) {
        text = "Thanks for voting! The models are revealed above. Clear to start a new round.";
        if (state.flagged) text += " An answer named a model, so this battle does not count on the leaderboard.";
      }
      status.textContent = text;
    }
    this.updateControls();
  }

  busy() {
    return this.controller !== null;
  }

  updateControls() {
    const state = this.state;
    const has = state && state.sides[0].messages.length > 0;
    const voted = state && state.vote;
    document.body.dataset.busy = this.busy() ? "1" : "0"; // tests and assistive tech read this
    $("send").disabled = this.busy() || Boolean(voted);
    $("stop").disabled = !this.busy();
    $("regenerate").disabled = this.busy() || !has || Boolean(voted);
    $("clear").disabled = this.busy();
    const complete = state && state.sides.every((side) => side.complete);
    for (const button of document.querySelectorAll("button.vote")) {
      button.disabled = this.busy() || !complete || Boolean(voted);
    }
    for (const id of ["model", "model-a", "model-b", "system-prompt"]) {
      if ($(id)) $(id).disabled = Boolean(has);
    }
    const model = PAGE === "chat" ? $("model").value : null;
    const visionOk = PAGE !== "chat" || this.vision.includes(model);
    $("image").disabled = !visionOk;
    $("upload-label").title = visionOk ? "" : "This model does not take images";
  }

  body(kind) {
    const body = this.params();
    if (kind === "regenerate") return body;
    body.text = $("prompt").value;
    if (this.image) body.image = this.image;
    if (PAGE === "chat") {
      body.model = $("model").value;
      body.system_prompt = $("system-prompt").value;
    }
    if (PAGE === "named") body.models = [$("model-a").value, $("model-b").value];
    return body;
  }

  async send(kind) {
    if (this.busy()) return;
    showError("");
    const body = this.body(kind);
    this.controller = new AbortController();
    this.updateControls();
    let response;
    try {
      response = await post(`/api/${PAGE}/${kind}`, body, this.controller.signal);
    } catch (error) {
      this.controller = null;
      this.updateControls();
      return showError(error.name === "AbortError" ? "" : "The UI server cannot be reached.");
    }
    if (!response.ok) {
      this.controller = null;
      this.updateControls();
      return showError(await errorOf(response));
    }
    this.beginAnswer(kind, body);
    try {
      await readEvents(response, (event, data) => this.onEvent(event, data));
    } catch (error) {
      if (error.name !== "AbortError") showError("The answer broke off.");
      this.markStopped();
      this.controller = null;
      this.streaming = {};
      await this.refresh(); // the server's record of the stopped answers (it waits for them)
    } finally {
      this.controller = null;
      this.streaming = {};
      this.updateControls();
    }
  }

  async refresh() {
    const response = await fetch(`/api/${PAGE}/state`, { credentials: "same-origin" });
    if (response.ok) this.render((await response.json()).state);
  }

  beginAnswer(kind, body) {
    this.sides.forEach((name) => {
      const box = $(`messages-${name}`);
      if (kind === "regenerate") {
        const last = box.lastElementChild;
        if (last && last.classList.contains("assistant")) last.remove();
      } else {
        box.appendChild(messageEl({ role: "user", text: body.text.trim(), images: body.image ? 1 : 0 }));
      }
      const answer = document.createElement("div");
      answer.className = "msg assistant streaming";
      box.appendChild(answer);
      this.streaming[name] = answer;
    });
    if (kind === "send") {
      $("prompt").value = "";
      $("image").value = "";
      $("image-name").textContent = "";
      this.image = null;
      this.updateCounter();
    }
  }

  onEvent(event, data) {
    const answer = this.streaming[data.side];
    if (event === "delta" && answer) {
      answer.textContent += data.text; // text only until the server's sanitised HTML arrives
      answer.parentElement.scrollTop = answer.parentElement.scrollHeight;
    } else if (event === "done" && answer) {
      answer.classList.remove("streaming");
      answer.innerHTML = data.html;
      answer.dataset.done = "1";
    } else if (event === "error") {
      if (answer) {
        answer.classList.remove("streaming");
        answer.appendChild(noteEl("(failed)", true));
      }
      showError(data.message);
    } else if (event === "end") {
      this.render(data.state);
    }
  }

  markStopped() {
    for (const answer of Object.values(this.streaming)) {
      if (!answer.dataset.done) {
        answer.classList.remove("streaming");
        answer.appendChild(noteEl("(stopped)", false));
      }
    }
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  async clear() {
    showError("");
    const response = await post(`/api/${PAGE}/clear`, {});
    if (!response.ok) return showError(await errorOf(response));
    this.render(null);
  }

  async vote(choice) {
    showError("");
    const response = await post(`/api/${PAGE}/vote`, { vote: choice });
    if (!response.ok) return showError(await errorOf(response));
    this.render((await response.json()).state);
  }
}

// ---- leaderboard -------------------------------------------------------------------------------
function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function fixed(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : "";
}

async function loadLeaderboard() {
  const query = new URLSearchParams({ view: $("view").value, category: $("category").value }).toString();
  const response = await fetch(`/leaderboard?${query}`, { credentials: "same-origin" });
  const body = $("board-rows");
  body.replaceChildren();
  if (!response.ok) {
    $("board-empty").hidden = false;
    $("board-empty").textContent = await errorOf(response);
    return;
  }
  const board = await response.json();
  const mtBench = board.columns.includes("mt_bench");  // scores of `polyroute eval mt-bench`
  $("mt-bench-head").hidden = !mtBench;
  for (const entry of board.rows) {
    const row = document.createElement("tr");
    cell(row, String(entry.rank ?? ""));
    cell(row, entry.model);
    cell(row, entry.rating === null ? "no votes" : fixed(entry.rating, 0));
    cell(row, entry.ci_lower === null ? "" : `${fixed(entry.ci_lower, 0)} – ${fixed(entry.ci_upper, 0)}`);
    cell(row, String(entry.votes ?? ""));
    cell(row, fixed(entry.elo_online, 0));
    if (mtBench) cell(row, fixed(entry.mt_bench, 2));
    body.appendChild(row);
  }
  $("board-empty").hidden = board.rows.length > 0;
  const categories = board.categories || [];
  const select = $("category");
  if (select.options.length <= 1 && categories.length) {
    for (const name of categories) {
      if (name === "all") continue;
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    }
  }
  $("csv-link").href = `/leaderboard.csv?${query}`;
  const stamp = Date.now();
  $("plots").hidden = !board.battles;  // nothing to draw before the first counted vote
  $("plot-ratings").src = `/leaderboard/plot/ratings.svg?${query}&t=${stamp}`;
  $("plot-winfraction").src = `/leaderboard/plot/winfraction.svg?${query}&t=${stamp}`;
  showExternal(board.external);
  document.body.dataset.ready = "1";
}

// The external leaderboard's JSON is untrusted and of any shape: a list of rows, or an object
// holding one; everything is written with textContent.
function externalRows(data) {
  if (Array.isArray(data)) return data.filter((row) => row && typeof row === "object");
  if (data && typeof data === "object") {
    for (const value of Object.values(data)) {
      if (Array.isArray(value) && value.length && typeof value[0] === "object") return externalRows(value);
    }
  }
  return [];
}

function showExternal(external) {
  const box = $("external");
  if (!external) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const fetched = external.fetched_at ? new Date(external.fetched_at * 1000).toISOString() : "never";
  $("external-source").textContent = `From ${external.source} (fetched: ${fetched})` +
    (external.error ? `; last refresh failed: ${external.error}` : "") +
    ". Not computed from this arena's votes.";
  const rows = externalRows(external.data);
  const head = $("external-head");
  const body = $("external-rows");
  head.replaceChildren();
  body.replaceChildren();
  if (!rows.length) return;
  const columns = Object.keys(rows[0]).slice(0, 8);
  for (const name of columns) {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  }
  for (const entry of rows.slice(0, 100)) {
    const row = document.createElement("tr");
    for (const name of columns) {
      const value = entry[name];
      cell(row, value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));
    }
    body.appendChild(row);
  }
}

function setupLeaderboard() {
  $("view").addEventListener("change", loadLeaderboard);
  $("category").addEventListener("change", loadLeaderboard);
  loadLeaderboard();
}

// ---- start -------------------------------------------------------------------------------------
function setupLogout() {
  const button = $("logout");
  if (!button) return;
  button.addEventListener("click", async () => {
    await post("/logout", {});
    window.location.assign("/login");
  });
}

setupLogout();
if (PAGE === "login") setupLogin();
else if (PAGE === "leaderboard") setupLeaderboard();
else new Conversation().start();
