/* The comparison page's charts: speed, throttle and brake over the lap, delta time, sectors. */
(function () {
  "use strict";
  const T = window.TelemetryCharts;

  function trace(key, chart, pair) {
    const colors = T.colorsFor(pair.codes, pair.drivers);
    const stepped = chart.channel === "brake";
    const sets = chart.series.map((s) => ({
      label: s.code,
      data: s.distance.map((x, i) => ({ x, y: s.values[i] })),
      borderColor: colors[s.code].color,
      backgroundColor: colors[s.code].color,
      borderDash: colors[s.code].dash,
      borderWidth: 1.6,
      pointRadius: 0,
      stepped,
    }));
    const scaleY = { title: { display: true, text: chart.unit } };
    if (chart.channel === "throttle_pct") Object.assign(scaleY, { min: 0, max: 100 });
    if (stepped) Object.assign(scaleY, { min: 0, max: 1, ticks: { stepSize: 1, callback: (v) => (v ? "on" : "off") } });
    T.make(key, {
      type: "line",
      data: { datasets: sets },
      options: {
        parsing: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", max: Math.max(...chart.series.map((s) => s.distance[s.distance.length - 1] || 0)), title: { display: true, text: "Distance (m)" } },
          y: scaleY,
        },
      },
    }, (set, i) => {
      const p = sets[set].data[i];
      const value = stepped ? (p.y ? "brake on" : "brake off") : `${p.y} ${chart.unit}`;
      return `${sets[set].label} at ${Math.round(p.x)} m: ${value}`;
    });
  }

  function delta(chart, pair) {
    const [a, b] = pair.codes;
    const points = chart.points.map(([x, y]) => ({ x, y }));
    T.make("delta", {
      type: "line",
      data: {
        datasets: [{
          label: `${b} minus ${a} (s)`,
          data: points,
          borderColor: "#4338ca",
          backgroundColor: "rgba(67, 56, 202, 0.15)",
          fill: "origin",
          pointRadius: 0,
          borderWidth: 2,
        }],
      },
      options: {
        parsing: false,
        scales: {
          x: { type: "linear", max: points.length ? points[points.length - 1].x : undefined, title: { display: true, text: "Distance (m)" } },
          y: { title: { display: true, text: `Seconds (${b} behind when above 0)` } },
        },
      },
    }, (set, i) => {
      const p = points[i];
      const ahead = p.y > 0 ? `${a} ahead` : p.y < 0 ? `${b} ahead` : "level";
      return `At ${Math.round(p.x)} m: ${p.y > 0 ? "+" : ""}${p.y.toFixed(3)} s, ${ahead}`;
    });
  }

  function sectors(chart, pair) {
    const colors = T.colorsFor(pair.codes, pair.drivers);
    const names = ["Sector 1", "Sector 2", "Sector 3"];
    const best = names.map((_, n) => Math.min(...chart.rows.map((r) => r.cells[n].seconds)));
    const sets = chart.rows.map((r) => ({
      label: r.code,
      data: names.map((_, n) => +(r.cells[n].seconds - best[n]).toFixed(3)),
      backgroundColor: colors[r.code].color,
      borderColor: "#3b3f4c",
      borderWidth: 1,
    }));
    T.make("sectors", {
      type: "bar",
      data: { labels: names, datasets: sets },
      options: {
        scales: { y: { beginAtZero: true, title: { display: true, text: "Seconds slower than the fastest" } } },
      },
    }, (set, i) => {
      const row = chart.rows[set];
      const gap = sets[set].data[i];
      return `${row.code}, ${names[i]}: ${row.cells[i].text}${gap ? `, ${gap.toFixed(3)} s slower` : ", fastest"}`;
    });
  }

  T.start((data) => {
    if (!data.pair) return;
    const c = data.charts;
    trace("speed", c.speed, data.pair);
    delta(c.delta, data.pair);
    trace("throttle", c.throttle, data.pair);
    trace("brake", c.brake, data.pair);
    sectors(c.sectors, data.pair);
  });
})();
