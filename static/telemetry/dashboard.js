/* The race dashboard's charts: lap times, positions, tyre strategy, pit stops, weather. */
(function () {
  "use strict";
  const T = window.TelemetryCharts;

  function lineSets(series, drivers) {
    const colors = T.colorsFor(series.map((s) => s.code), drivers);
    return series.map((s) => ({
      label: s.code,
      data: s.points.filter((p) => p[1] != null).map(([x, y]) => ({ x, y })),
      borderColor: colors[s.code].color,
      backgroundColor: colors[s.code].color,
      borderDash: colors[s.code].dash,
      borderWidth: 2,
      pointRadius: 1.5,
      tension: 0,
    }));
  }

  function lapTimes(chart, drivers) {
    const sets = lineSets(chart.series, drivers);
    T.make("lap_times", {
      type: "line",
      data: { datasets: sets },
      options: {
        parsing: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "Lap" }, ticks: { stepSize: 5 } },
          y: { title: { display: true, text: "Lap time" }, ticks: { callback: (v) => T.lapTime(v) } },
        },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label} lap ${c.parsed.x}: ${T.lapTime(c.parsed.y)}` } } },
      },
    }, (set, i) => {
      const p = sets[set].data[i];
      return `${sets[set].label}, lap ${p.x}: ${T.lapTime(p.y)}`;
    });
  }

  function positions(chart, drivers) {
    const sets = lineSets(chart.series, drivers).map((s) => ({ ...s, stepped: false }));
    T.make("positions", {
      type: "line",
      data: { datasets: sets },
      options: {
        parsing: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "Lap" }, ticks: { stepSize: 5 } },
          y: { reverse: true, min: 1, max: drivers.length || 20, ticks: { stepSize: 1 }, title: { display: true, text: "Position" } },
        },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label} lap ${c.parsed.x}: P${c.parsed.y}` } } },
      },
    }, (set, i) => {
      const p = sets[set].data[i];
      return `${sets[set].label}, lap ${p.x}: position ${p.y}`;
    });
  }

  function strategy(chart, race) {
    const rows = chart.rows;
    const most = Math.max(0, ...rows.map((r) => r.stints.length));
    const sets = [];
    for (let n = 0; n < most; n += 1) {
      sets.push({
        label: `Stint ${n + 1}`,
        data: rows.map((r) => (r.stints[n] ? [r.stints[n].first_lap - 1, r.stints[n].last_lap] : null)),
        backgroundColor: rows.map((r) => (r.stints[n] ? chart.compound_colors[r.stints[n].compound] : "transparent")),
        borderColor: "#3b3f4c",
        borderWidth: 1,
        borderSkipped: false,
        grouped: false,
        barPercentage: 0.8,
      });
    }
    const stintAt = (set, i) => rows[i] && rows[i].stints[set];
    T.make("strategy", {
      type: "bar",
      data: { labels: rows.map((r) => r.code), datasets: sets },
      options: {
        indexAxis: "y",
        scales: {
          x: { min: 0, max: race.laps, title: { display: true, text: "Lap" } },
        },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (c) => describeStint(rows[c.dataIndex].code, stintAt(c.datasetIndex, c.dataIndex)) } },
        },
      },
    }, (set, i) => describeStint(rows[i].code, stintAt(set, i)));
  }

  function describeStint(code, s) {
    if (!s) return `${code}: no stint`;
    return `${code}, stint ${s.stint}: ${s.compound.toLowerCase()}, laps ${s.first_lap} to ${s.last_lap} (${s.laps} laps)`;
  }

  function pitStops(chart, drivers) {
    const stops = chart.stops;
    const colors = {};
    drivers.forEach((d) => { colors[d.code] = d.color; });
    T.make("pit_stops", {
      type: "bar",
      data: {
        labels: stops.map((s) => `${s.code} L${s.lap}`),
        datasets: [{
          label: "Pit lane time (s)",
          data: stops.map((s) => s.duration_s),
          backgroundColor: stops.map((s) => colors[s.code] || "#777777"),
        }],
      },
      options: {
        scales: { y: { title: { display: true, text: "Seconds in the pit lane" } }, x: { ticks: { autoSkip: true, maxRotation: 90 } } },
        plugins: { legend: { display: false } },
      },
    }, (set, i) => `${stops[i].code}, stop ${stops[i].stop} on lap ${stops[i].lap}: ${stops[i].duration_s} s in the pit lane`);
  }

  function weather(chart) {
    const samples = chart.samples;
    const sets = [
      { label: "Track °C", data: samples.map((w) => ({ x: w.minute, y: w.track_temp_c })), borderColor: "#c2410c", backgroundColor: "#c2410c" },
      { label: "Air °C", data: samples.map((w) => ({ x: w.minute, y: w.air_temp_c })), borderColor: "#2563eb", backgroundColor: "#2563eb" },
    ].map((s) => ({ ...s, pointRadius: 0, borderWidth: 2 }));
    T.make("weather", {
      type: "line",
      data: { datasets: sets },
      options: {
        parsing: false,
        scales: {
          x: { type: "linear", title: { display: true, text: "Minute of the session" } },
          y: { title: { display: true, text: "°C" } },
        },
      },
    }, (set, i) => `${sets[set].label} at minute ${sets[set].data[i].x}: ${sets[set].data[i].y}`);
  }

  T.start((data) => {
    const c = data.charts;
    lapTimes(c.lap_times, data.drivers);
    positions(c.positions, data.drivers);
    strategy(c.strategy, data.race);
    pitStops(c.pit_stops, data.drivers);
    weather(c.weather);
  });
})();
