// Draws the analytics dashboard's charts with the vendored Chart.js. The data comes from the
// page's <script type="application/json" id="analytics-data"> (Django's json_script): no inline
// script, so the admin's Content-Security-Policy holds. Each chart also has a table on the page.
(function () {
  "use strict";
  const PALETTE = ["#417690", "#e8743b", "#19a979", "#ed4a7b", "#945ecf", "#13a4b4", "#bf399e"];

  function dataset(spec, index) {
    const color = PALETTE[index % PALETTE.length];
    return Object.assign({ backgroundColor: color, borderColor: color, borderWidth: 2,
      pointRadius: 2, spanGaps: true }, spec);
  }

  function options(spec) {
    const scales = { y: { beginAtZero: true } };
    if (spec.datasets.some((d) => d.yAxisID === "y1")) {
      scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } };
    }
    if (spec.horizontal) {
      scales.x = { beginAtZero: true };
      delete scales.y;
    }
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: spec.horizontal ? "y" : "x",
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { display: spec.datasets.length > 1 } },
      scales: scales,
    };
  }

  function draw() {
    const node = document.getElementById("analytics-data");
    if (!node || !window.Chart) return;
    const specs = JSON.parse(node.textContent);
    for (const spec of specs) {
      const canvas = document.getElementById("chart-" + spec.id);
      if (!canvas) continue;
      new window.Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: spec.datasets.map(dataset) },
        options: options(spec),
      });
    }
    document.body.dataset.chartsDrawn = String(specs.length);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
