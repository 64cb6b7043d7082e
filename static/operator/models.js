// The model manager: Ollama's models (list, details, load, unload, delete, pull with a live
// progress bar fed by the streamed NDJSON) and the OpenAI-compatible servers' lists (choose).
// Everything from a server is drawn as text; nothing reaches innerHTML.
(function () {
  "use strict";
  const root = document.querySelector(".operator-manager");
  if (!root) return;
  const canManage = root.dataset.canManage === "1";
  const canChoose = root.dataset.canChoose === "1";
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);

  function say(element, message, state) {
    element.textContent = message;
    element.dataset.state = state || "";
  }

  function size(bytes) {
    if (!bytes) return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = bytes, unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
    return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function button(parent, label, handler) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button";
    b.textContent = label;
    b.addEventListener("click", () => handler(b));
    parent.appendChild(b);
    return b;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error ? data.error.message : `HTTP ${response.status}`);
    return data;
  }

  async function get(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error ? data.error.message : `HTTP ${response.status}`);
    return data;
  }

  // --- Ollama ------------------------------------------------------------------------------
  const ollamaStatus = $("ollama-status");
  const actionUrl = (action) => root.dataset.actionUrl.replace("ACTION", action);

  async function ollamaRefresh() {
    try {
      const data = await get(root.dataset.ollamaUrl);
      drawModels(data.models);
      drawRunning(data.running);
      say(ollamaStatus, `${data.models.length} local model(s), ${data.running.length} loaded.`, "ok");
    } catch (error) {
      say(ollamaStatus, `Ollama: ${error.message}`, "error");
    }
  }

  function drawModels(models) {
    const body = $("ollama-models").querySelector("tbody");
    body.replaceChildren();
    for (const m of models) {
      const row = document.createElement("tr");
      row.dataset.model = m.name;
      cell(row, m.name);
      cell(row, size(m.size));
      cell(row, m.family);
      cell(row, m.parameter_size);
      cell(row, m.quantization);
      cell(row, (m.modified_at || "").slice(0, 10));
      const actions = cell(row, "");
      button(actions, "Details", () => ollamaShow(m.name));
      if (canManage) {
        button(actions, "Load", () => ollamaAction("load", m.name));
        button(actions, "Unload", () => ollamaAction("unload", m.name));
        button(actions, "Delete", () => {
          if (window.confirm(`Delete ${m.name} from Ollama?`)) ollamaAction("delete", m.name);
        });
      }
      if (canChoose) button(actions, "Use", () => choose("ollama", m.name, ollamaStatus));
      body.appendChild(row);
    }
  }

  function drawRunning(models) {
    const body = $("ollama-running").querySelector("tbody");
    body.replaceChildren();
    for (const m of models) {
      const row = document.createElement("tr");
      row.dataset.model = m.name;
      cell(row, m.name);
      cell(row, size(m.size_vram || m.size));
      cell(row, (m.expires_at || "").replace("T", " ").slice(0, 19));
      body.appendChild(row);
    }
  }

  async function ollamaAction(action, name) {
    say(ollamaStatus, `${action} ${name}…`, "busy");
    try {
      await post(actionUrl(action), { model: name });
      say(ollamaStatus, `${name}: ${action} done.`, "ok");
      await ollamaRefresh();
      say(ollamaStatus, `${name}: ${action} done.`, "ok");
    } catch (error) {
      say(ollamaStatus, `${action} ${name} failed: ${error.message}`, "error");
    }
  }

  async function ollamaShow(name) {
    try {
      const d = await post(root.dataset.showUrl, { model: name });
      $("ollama-details-title").textContent = `Details: ${name}`;
      const list = $("ollama-details-list");
      list.replaceChildren();
      const facts = {
        Family: d.details.family, Format: d.details.format,
        Parameters: d.details.parameter_size, Quantization: d.details.quantization_level,
        "Context length": d.context_length, Capabilities: (d.capabilities || []).join(", "),
        "Default parameters": d.parameters, Template: d.template,
      };
      for (const [label, value] of Object.entries(facts)) {
        if (value == null || value === "") continue;
        const dt = document.createElement("dt");
        dt.textContent = label;
        const dd = document.createElement("dd");
        dd.textContent = String(value);
        list.append(dt, dd);
      }
      $("ollama-details").hidden = false;
    } catch (error) {
      say(ollamaStatus, `Details of ${name}: ${error.message}`, "error");
    }
  }

  // Pull: read the NDJSON stream line by line and move the <progress> bar.
  async function pull(name) {
    const bar = $("ollama-pull-progress");
    const status = $("ollama-pull-status");
    bar.hidden = false;
    bar.removeAttribute("value"); // indeterminate until Ollama gives sizes
    say(status, `Pulling ${name}…`, "busy");
    let failed = false;
    let succeeded = false;
    try {
      const response = await fetch(root.dataset.pullUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ model: name }),
      });
      if (!response.ok) {
        const data = await response.json();
        throw new Error(data.error ? data.error.message : `HTTP ${response.status}`);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line);
          if (event.error) {
            failed = true;
            say(status, `Pull of ${name} failed: ${event.error}`, "error");
          } else {
            succeeded = event.status === "success";
            progressShow(bar, status, name, event);
          }
        }
      }
      if (!failed && !succeeded) say(status, `Pull of ${name} ended without success.`, "error");
    } catch (error) {
      say(status, `Pull of ${name} failed: ${error.message}`, "error");
    }
    await ollamaRefresh();
  }

  function progressShow(bar, status, name, event) {
    if (event.status === "success") {
      bar.max = 1;
      bar.value = 1;
      say(status, `Pulled ${name}.`, "ok");
      return;
    }
    if (event.total > 0) {
      bar.max = event.total;
      bar.value = event.completed;
      const percent = Math.floor((100 * event.completed) / event.total);
      say(status, `${event.status} · ${percent}% (${size(event.completed)} of ${size(event.total)})`, "busy");
    } else {
      say(status, event.status, "busy");
    }
  }

  const pullForm = $("ollama-pull-form");
  if (pullForm) {
    pullForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("ollama-pull-name").value.trim();
      if (name) pull(name);
    });
  }

  // --- OpenAI-compatible servers: list and choose --------------------------------------------
  async function choose(server, model, statusElement) {
    try {
      const data = await post(root.dataset.chooseUrl, { server, model });
      $("operator-in-use-model").textContent = data.model;
      say(statusElement, `Now using ${data.model} at ${data.base_url}.`, "ok");
    } catch (error) {
      say(statusElement, `Could not choose ${model}: ${error.message}`, "error");
    }
  }

  async function serverRefresh(section) {
    const server = section.dataset.server;
    const status = section.querySelector(".operator-status");
    const body = section.querySelector("tbody");
    try {
      const data = await get(root.dataset.serverUrl.replace("SERVER", server));
      body.replaceChildren();
      for (const m of data.models) {
        const row = document.createElement("tr");
        row.dataset.model = m.id;
        cell(row, m.id);
        cell(row, m.owned_by);
        const actions = cell(row, "");
        if (canChoose) button(actions, "Use", () => choose(server, m.id, status));
        body.appendChild(row);
      }
      say(status, `${data.models.length} model(s).`, "ok");
    } catch (error) {
      say(status, error.message, "error");
    }
  }

  ollamaRefresh();
  document.querySelectorAll(".operator-server").forEach(serverRefresh);
})();
