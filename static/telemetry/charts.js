/* Telemetry pages: what every chart shares. Chart.js set-up, keyboard reading of a chart,
 * team colours, and "Ask AI about this chart" (window.Concierge.ask with a PNG of the chart).
 * The page's numbers come from <script type="application/json" id="telemetry-data">; nothing
 * here uses inline script or style attributes set by the server (CSP: script-src 'self'). */
(function () {
  "use strict";

  const source = document.getElementById("telemetry-data");
  const data = source ? JSON.parse(source.textContent) : { charts: {} };
  const charts = {};
  const EDIT_FIRST_KEY = "telemetry:editFirst";

  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#40475a";
  Chart.defaults.maintainAspectRatio = false;

  /* Paint a white background so that the PNG sent to the assistant is readable anywhere. */
  const background = {
    id: "tmBackground",
    beforeDraw(chart) {
      const { ctx, width, height } = chart;
      ctx.save();
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, width, height);
      ctx.restore();
    },
  };

  /* Colours per driver: the team's, lightened and dashed for a team-mate already drawn. */
  function colorsFor(codes, drivers) {
    const teams = {};
    (drivers || []).forEach((d) => { teams[d.code] = d; });
    const used = {};
    const result = {};
    codes.forEach((code) => {
      const d = teams[code] || { color: "#777777", team: code };
      const second = used[d.team];
      used[d.team] = true;
      result[code] = {
        color: second ? lighten(d.color, 0.45) : d.color,
        dash: second ? [6, 4] : [],
      };
    });
    return result;
  }

  function lighten(hex, amount) {
    const n = parseInt(hex.slice(1), 16);
    const mix = (c) => Math.round(c + (255 - c) * amount);
    const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(mix);
    return "#" + ((1 << 24) + (r << 16) + (g << 8) + b).toString(16).slice(1);
  }

  function paintSwatches() {
    document.querySelectorAll(".tm-swatch[data-color]").forEach((el) => {
      const color = el.dataset.color;
      if (/^#[0-9a-f]{6}$/i.test(color)) el.style.backgroundColor = color;
    });
  }

  function lapTime(seconds) {
    if (seconds == null) return "–";
    const minutes = Math.floor(seconds / 60);
    const rest = (seconds - minutes * 60).toFixed(3).padStart(6, "0");
    return minutes ? `${minutes}:${rest}` : (seconds).toFixed(3);
  }

  /* Draw chart `key` in its canvas; `describe(datasetIndex, index)` says one point in words. */
  function make(key, config, describe) {
    const canvas = document.getElementById(`${key}-canvas`);
    if (!canvas) return null;
    config.plugins = [...(config.plugins || []), background];
    config.options = config.options || {};
    config.options.responsive = true;
    config.options.normalized = true;
    const chart = new Chart(canvas, config);
    charts[key] = chart;
    keyboard(key, chart, describe);
    return chart;
  }

  /* Arrow keys walk the points of the focused chart and read each one out (aria-live). */
  function keyboard(key, chart, describe) {
    const canvas = chart.canvas;
    const readout = document.getElementById(`${key}-readout`);
    const state = { set: 0, index: -1 };
    canvas.addEventListener("keydown", (event) => {
      const sets = chart.data.datasets
        .map((_, n) => n)
        .filter((n) => chart.isDatasetVisible(n) && chart.data.datasets[n].data.length);
      if (!sets.length) return;
      if (!sets.includes(state.set)) state.set = sets[0];
      const length = chart.data.datasets[state.set].data.length;
      const at = sets.indexOf(state.set);
      const moves = {
        ArrowRight: () => { state.index = Math.min(length - 1, state.index + 1); },
        ArrowLeft: () => { state.index = Math.max(0, state.index - 1); },
        PageDown: () => { state.index = Math.min(length - 1, state.index + 10); },
        PageUp: () => { state.index = Math.max(0, state.index - 10); },
        Home: () => { state.index = 0; },
        End: () => { state.index = length - 1; },
        ArrowUp: () => { state.set = sets[(at + 1) % sets.length]; },
        ArrowDown: () => { state.set = sets[(at - 1 + sets.length) % sets.length]; },
      };
      if (!moves[event.key]) return;
      event.preventDefault();
      moves[event.key]();
      const count = chart.data.datasets[state.set].data.length;
      state.index = Math.max(0, Math.min(count - 1, state.index));
      highlight(chart, state.set, state.index);
      if (readout) readout.textContent = describe(state.set, state.index);
    });
    canvas.addEventListener("blur", () => {
      chart.setActiveElements([]);
      chart.tooltip.setActiveElements([], { x: 0, y: 0 });
      chart.update("none");
    });
  }

  function highlight(chart, set, index) {
    const element = chart.getDatasetMeta(set).data[index];
    if (!element) return;
    const active = [{ datasetIndex: set, index }];
    chart.setActiveElements(active);
    chart.tooltip.setActiveElements(active, { x: element.x, y: element.y });
    chart.update("none");
  }

  /* "Ask AI about this chart": the chart's picture, its context and a prompt, to the widget. */
  function setupAsk() {
    const editFirst = document.getElementById("tm-edit-first");
    if (editFirst) {
      editFirst.checked = localStorage.getItem(EDIT_FIRST_KEY) === "1";
      editFirst.addEventListener("change", () => {
        localStorage.setItem(EDIT_FIRST_KEY, editFirst.checked ? "1" : "0");
      });
    }
    document.querySelectorAll(".tm-ask[data-ask]").forEach((box) => {
      const key = box.dataset.ask;
      const spec = data.charts[key];
      if (!spec) return;
      const editor = box.querySelector(".tm-ask__editor");
      const text = box.querySelector(".tm-ask__text");
      box.querySelector(".tm-ask__button").addEventListener("click", () => {
        if (editFirst && editFirst.checked) {
          text.value = spec.prompt || "";
          editor.hidden = false;
          text.focus();
        } else {
          send(key, box, spec.prompt || "");
        }
      });
      box.querySelector(".tm-ask__send").addEventListener("click", () => {
        if (send(key, box, text.value.trim())) editor.hidden = true;
      });
      box.querySelector(".tm-ask__cancel").addEventListener("click", () => {
        editor.hidden = true;
        box.querySelector(".tm-ask__button").focus();
      });
    });
  }

  function send(key, box, text) {
    const status = box.querySelector(".tm-ask__status");
    const api = window.Concierge;
    const fail = (message) => {
      status.textContent = message;
      status.classList.add("is-error");
      return false;
    };
    if (!text) return fail("Write a question first.");
    if (!api || typeof api.ask !== "function") {
      return fail("The assistant is not available on this page right now. Try again in a moment.");
    }
    const chart = charts[key];
    const request = {
      text,
      context: data.charts[key].context,
      image: chart ? chart.toBase64Image("image/png", 1) : undefined,
      universe: "race",
    };
    status.classList.remove("is-error");
    status.textContent = "Sending to the assistant…";
    Promise.resolve()
      .then(() => api.ask(request))
      .then((taken) => {
        if (taken === false) {
          fail("The assistant is still answering the last question: ask again when it has finished.");
        } else {
          status.textContent = "Sent to the assistant: its answer appears in the chat window.";
        }
      })
      .catch((error) => fail(`The assistant could not take the question: ${error && error.message ? error.message : error}`));
    return true;
  }

  /* Run `draw` once the page is parsed, then mark when every chart is drawn (for timing). */
  function start(draw) {
    const run = () => {
      performance.mark("telemetry:draw-start");
      paintSwatches();
      draw(data);
      setupAsk();
      performance.mark("telemetry:charts-drawn");
      document.documentElement.dataset.chartsDrawn = String(Object.keys(charts).length);
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", run);
    } else {
      run();
    }
  }

  window.TelemetryCharts = Object.freeze({ start, make, colorsFor, lapTime, charts });
})();
