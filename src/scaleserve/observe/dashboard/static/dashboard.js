/* The scaleserve dashboard: one EventSource, one JSON snapshot a second, uPlot charts.
   Text from the service is only ever set with textContent, never parsed as HTML.
   window.scaleserveDashboard lets tests (and curious people) read what is drawn. */
"use strict";

(function () {
  const WINDOW_S = 300;            // the charts cover the last five minutes
  const STALE_AFTER_MS = 5000;     // no snapshot for this long: say so
  const RECONNECT_MS = 5000;       // after the browser gave up on the stream
  const CHART_HEIGHT = 150;
  const COLORS = {
    requests: "#2563eb", errors: "#dc2626", rejected: "#d97706",
    p50: "#16a34a", p95: "#ea580c", p99: "#dc2626",
    backlog: "#7c3aed", ready: "#0f766e", desired: "#94a3b8",
  };

  const cards = new Map();         // "model@version" -> card
  let snapshots = 0;
  let lastAt = 0;
  let lastMessageMs = 0;
  let connection = "connecting";
  let redrawing = false;
  let source = null;

  // ---- formatting ---------------------------------------------------------------------

  function rate(value) {
    if (value == null) return "–";
    if (value === 0) return "0";
    if (value < 10) return value.toFixed(2);
    if (value < 1000) return value.toFixed(1);
    return Math.round(value).toLocaleString("en");
  }

  function duration(seconds) {
    if (seconds == null) return "–";
    const ms = seconds * 1000;
    if (ms < 10) return ms.toFixed(2) + " ms";
    if (ms < 1000) return ms.toFixed(1) + " ms";
    return seconds.toFixed(2) + " s";
  }

  function percent(value) {
    return value == null ? "–" : (value * 100).toFixed(1) + " %";
  }

  function count(value) {
    return value == null ? "–" : Math.round(value).toLocaleString("en");
  }

  function decimal(value, digits) {
    return value == null ? "–" : Number(value).toFixed(digits);
  }

  function clock(at) {
    return new Date(at * 1000).toLocaleTimeString("en-GB", { hour12: false });
  }

  function sum(rows, pick) {
    return rows.reduce((total, row) => total + (pick(row) || 0), 0);
  }

  // ---- DOM helpers --------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function cell(row, text, className) {
    row.appendChild(el("td", className || "", text));
  }

  function fillBody(table, rows, emptyText, columns, render) {
    const body = document.querySelector(table + " tbody");
    body.replaceChildren();
    if (!rows.length) {
      const row = el("tr", "empty");
      const only = el("td", "", emptyText);
      only.colSpan = columns;
      row.appendChild(only);
      body.appendChild(row);
      return;
    }
    for (const item of rows) body.appendChild(render(item));
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text;
  }

  // ---- charts -------------------------------------------------------------------------

  function fromZero(u, min, max) {
    return [0, max != null && max > 0 ? max * 1.15 : 1];
  }

  const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6];

  const AXIS = { stroke: "#64748b", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#e2e8f0" } };

  function axis(format, extra) {
    return Object.assign({}, AXIS, { size: 56, values: (u, splits) => splits.map((v) => format(v)) },
                         extra || {});
  }

  /* A chart of `series` over time in `target`; `format` writes the left axis' numbers,
     `counted` makes it whole numbers, `right` adds a scale of whole numbers on the right. */
  function chart(target, title, series, format, { counted = false, right = null } = {}) {
    const scales = { x: { time: true }, y: { range: fromZero } };
    const time = Object.assign({}, AXIS, { space: 70, size: 28,
                                           values: (u, splits) => splits.map(clock) });
    const axes = [time, axis(format, counted ? { incrs: WHOLE } : {})];
    if (right) {
      scales[right] = { range: fromZero };
      axes.push(axis(count, { scale: right, side: 1, grid: { show: false }, size: 40,
                              incrs: WHOLE }));
    }
    const options = {
      title, width: Math.max(target.clientWidth, 200), height: CHART_HEIGHT,
      scales, axes, legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [{ value: (u, v) => (v == null ? "–" : clock(v)) }].concat(series),
    };
    const empty = [[]].concat(series.map(() => []));
    const plot = new uPlot(options, empty, target);
    new ResizeObserver((entries) => {
      const width = Math.floor(entries[0].contentRect.width);
      if (width > 0 && width !== plot.width) plot.setSize({ width, height: CHART_HEIGHT });
    }).observe(target);
    return plot;
  }

  /* New data for `plot`; while no one points at it, its legend shows the latest values. */
  function redraw(plot, data) {
    plot.setData(data);
    if (plot.cursor.left < 0 && data[0].length) plot.setLegend({ idx: data[0].length - 1 });
  }

  function line(label, color, format, extra) {
    return Object.assign({ label, stroke: color, width: 2, points: { show: false },
                           spanGaps: false, value: (u, v) => format(v) }, extra || {});
  }

  // ---- model cards --------------------------------------------------------------------

  const STATS = [
    ["requests_per_s", "req/s", rate],
    ["errors_per_s", "errors/s", rate],
    ["rejected_per_s", "429/s", rate],
    ["p50_s", "p50", duration],
    ["p95_s", "p95", duration],
    ["p99_s", "p99", duration],
    ["backlog", "backlog", count],
    ["workers", "workers", (w) => workers(w)],
    ["batch_size_avg", "batch size", (v) => decimal(v, 1)],
    ["cache_hit_rate", "cache hits", percent],
    ["in_flight", "in flight", count],
  ];

  function workers(w) {
    if (!w || w.ready == null) return "–";
    return w.desired ? w.ready + " / " + w.desired : String(w.ready);
  }

  function keyOf(row) {
    return row.version ? row.model + "@" + row.version : row.model;
  }

  function newCard(key) {
    const root = el("article", "card");
    root.dataset.model = key;
    const head = el("header", "card-head");
    head.appendChild(el("h3", "", key));
    root.appendChild(head);
    const stats = el("dl", "stats");
    const fields = {};
    for (const [name, label] of STATS) {
      const stat = el("div", "stat");
      stat.appendChild(el("dt", "", label));
      fields[name] = el("dd", "", "–");
      fields[name].dataset.field = name;
      stat.appendChild(fields[name]);
      stats.appendChild(stat);
    }
    root.appendChild(stats);
    const row = el("div", "charts");
    const places = ["throughput", "latency", "backlog"].map((name) => {
      const place = el("div", "chart");
      place.dataset.chart = name;
      row.appendChild(place);
      return place;
    });
    root.appendChild(row);
    document.getElementById("models").appendChild(root);
    const ms = (s) => (s == null ? "–" : duration(s / 1000));
    const plots = {
      throughput: chart(places[0], "requests / s", [
        line("req/s", COLORS.requests, rate, { fill: "rgba(37, 99, 235, 0.08)" }),
        line("errors/s", COLORS.errors, rate),
        line("429/s", COLORS.rejected, rate),
      ], rate),
      latency: chart(places[1], "latency (ms)", [
        line("p50", COLORS.p50, ms),
        line("p95", COLORS.p95, ms),
        line("p99", COLORS.p99, ms),
      ], (v) => String(v)),
      backlog: chart(places[2], "backlog and workers", [
        line("backlog", COLORS.backlog, count, { fill: "rgba(124, 58, 237, 0.10)" }),
        line("ready", COLORS.ready, count, { scale: "w", paths: uPlot.paths.stepped({ align: 1 }) }),
        line("desired", COLORS.desired, count, { scale: "w", dash: [4, 4],
                                                  paths: uPlot.paths.stepped({ align: 1 }) }),
      ], count, { counted: true, right: "w" }),
    };
    const series = {
      throughput: [[], [], [], []],
      latency: [[], [], [], []],
      backlog: [[], [], [], []],
    };
    return { root, fields, plots, series, dirty: false };
  }

  function push(card, row, at) {
    const ms = (s) => (s == null ? null : s * 1000);
    const w = row.workers || {};
    const points = {
      throughput: [at, row.requests_per_s, row.errors_per_s, row.rejected_per_s],
      latency: [at, ms(row.p50_s), ms(row.p95_s), ms(row.p99_s)],
      backlog: [at, row.backlog, w.ready, w.desired || null],
    };
    for (const [name, values] of Object.entries(points)) {
      const arrays = card.series[name];
      values.forEach((value, i) => arrays[i].push(value == null ? null : value));
      let stale = 0;
      while (stale < arrays[0].length && arrays[0][stale] < at - WINDOW_S) stale++;
      if (stale) arrays.forEach((a) => a.splice(0, stale));
    }
    for (const [name, , format] of STATS) card.fields[name].textContent = format(row[name]);
    card.dirty = true;
  }

  function showModels(rows, at) {
    const seen = new Set();
    for (const row of rows) {
      const key = keyOf(row);
      seen.add(key);
      let card = cards.get(key);
      if (!card) {
        card = newCard(key);
        cards.set(key, card);
      }
      push(card, row, at);
    }
    for (const [key, card] of cards) {
      if (!seen.has(key)) {
        Object.values(card.plots).forEach((plot) => plot.destroy());
        card.root.remove();
        cards.delete(key);
      }
    }
    const empty = document.querySelector("#models > .empty");
    if (empty) empty.hidden = cards.size > 0;
    scheduleRedraw();
  }

  function scheduleRedraw() {
    if (redrawing) return;
    redrawing = true;
    requestAnimationFrame(() => {
      redrawing = false;
      for (const card of cards.values()) {
        if (!card.dirty) continue;
        card.dirty = false;
        for (const [name, plot] of Object.entries(card.plots)) redraw(plot, card.series[name]);
      }
    });
  }

  // ---- tables -------------------------------------------------------------------------

  function showTotals(snapshot) {
    const models = snapshot.models || [];
    setText("total-requests", rate(sum(models, (m) => m.requests_per_s)));
    setText("total-errors", rate(sum(models, (m) => m.errors_per_s)));
    setText("total-rejected", rate(sum(models, (m) => m.rejected_per_s)));
    setText("total-backlog", count(sum(models, (m) => m.backlog)));
    setText("total-workers", count(sum(models, (m) => (m.workers || {}).ready)));
    const drifted = (snapshot.drift || []).filter((d) => d.drifted).length;
    setText("total-drifted", String(drifted));
    document.getElementById("total-drifted").classList.toggle("bad", drifted > 0);
  }

  function showTenants(snapshot) {
    const rows = new Map();
    for (const t of snapshot.tenants || []) rows.set(t.tenant, { live: t });
    for (const u of snapshot.usage_today || []) {
      rows.set(u.tenant, Object.assign(rows.get(u.tenant) || {}, { today: u }));
    }
    const names = [...rows.keys()].sort();
    fillBody("#tenants", names, "No tenant traffic today.", 7, (name) => {
      const { live = {}, today = {} } = rows.get(name);
      const row = el("tr");
      row.dataset.tenant = name;
      cell(row, name);
      cell(row, rate(live.requests_per_s), "num");
      cell(row, rate(live.rejected_per_s), "num" + (live.rejected_per_s > 0 ? " warn" : ""));
      cell(row, count(today.requests), "num");
      cell(row, count(today.items), "num");
      cell(row, count(today.errors), "num");
      cell(row, decimal(today.cost, 4), "num");
      return row;
    });
  }

  function showRollouts(snapshot) {
    fillBody("#rollouts", snapshot.rollouts || [], "No registry model.", 6, (r) => {
      const row = el("tr");
      cell(row, r.model);
      cell(row, r.stable || "–");
      cell(row, r.candidate || (r.swap_to ? "→ " + r.swap_to : "–"));
      const split = r.candidate ? (100 - r.weight) + " / " + r.weight + " %" : "–";
      cell(row, split + (r.shadow ? " (+" + r.shadow + " % shadow)" : ""), "num");
      cell(row, r.step ? r.step + " of " + r.steps : "–");
      const state = el("td");
      state.appendChild(el("span", "badge " + String(r.state || "").replace(/\s+/g, "-"), r.state));
      row.appendChild(state);
      return row;
    });
  }

  function showErrors(snapshot) {
    const list = document.getElementById("errors");
    list.replaceChildren();
    const errors = (snapshot.recent_errors || []).slice(0, 50);
    if (!errors.length) {
      list.appendChild(el("li", "empty", "No recent error."));
      return;
    }
    for (const error of errors) {
      const item = el("li");
      if (typeof error !== "object" || error === null) {
        item.textContent = String(error);
      } else {
        if (error.at) item.appendChild(el("time", "", clock(error.at)));
        const where = error.version ? error.model + "@" + error.version : error.model;
        if (where) item.appendChild(el("span", "where", where));
        if (error.code != null) item.appendChild(el("span", "badge bad", error.code));
        if (error.tenant) item.appendChild(el("span", "muted", error.tenant));
        item.appendChild(el("span", "detail", error.detail || error.message || error.title || ""));
      }
      list.appendChild(item);
    }
  }

  function showDrift(snapshot) {
    fillBody("#drift", snapshot.drift || [], "No drift measured.", 6, (d) => {
      const row = el("tr", d.drifted ? "drifted" : "");
      cell(row, d.version ? d.model + "@" + d.version : d.model);
      cell(row, d.feature || "–");
      cell(row, d.statistic || "–");
      cell(row, decimal(d.value, 3), "num");
      cell(row, decimal(d.threshold, 3), "num");
      const mark = el("td");
      mark.appendChild(el("span", d.drifted ? "mark bad" : "mark ok", d.drifted ? "drifted" : "ok"));
      row.appendChild(mark);
      return row;
    });
  }

  // ---- the stream ---------------------------------------------------------------------

  function setConnection(state) {
    connection = state;
    const badge = document.getElementById("connection");
    badge.className = "connection " + state;
    badge.textContent = state;
  }

  function onSnapshot(message) {
    let snapshot;
    try {
      snapshot = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (!(snapshot.at > lastAt)) return;   // already drawn (kept snapshots sent again)
    lastAt = snapshot.at;
    lastMessageMs = Date.now();
    snapshots += 1;
    if (connection !== "live") setConnection("live");
    showModels(snapshot.models || [], snapshot.at);
    showTotals(snapshot);
    showTenants(snapshot);
    showRollouts(snapshot);
    showErrors(snapshot);
    showDrift(snapshot);
  }

  function connect() {
    source = new EventSource("dashboard/events");
    source.onopen = () => setConnection("live");
    source.onmessage = onSnapshot;
    source.onerror = () => {
      // While CONNECTING the browser resumes the stream by itself (the server ends each one
      // after a few seconds, by design): tick() tells if no snapshot comes for a while.
      if (source.readyState === EventSource.CLOSED) {   // it will not retry by itself
        setConnection("offline");
        setTimeout(connect, RECONNECT_MS);
      }
    };
  }

  function tick() {
    if (lastMessageMs) {
      const ago = Math.round((Date.now() - lastMessageMs) / 1000);
      setText("updated", "updated " + (ago < 2 ? "just now" : ago + " s ago"));
      if (connection === "live" && Date.now() - lastMessageMs > STALE_AFTER_MS) {
        setConnection(source.readyState === EventSource.CONNECTING ? "reconnecting" : "stalled");
      }
    }
  }

  window.scaleserveDashboard = {
    snapshots: () => snapshots,
    connection: () => connection,
    models: () => [...cards.keys()],
    /** The data a chart draws, as uPlot holds it: [times, series...]. */
    data: (model, chartName) => {
      const card = cards.get(model);
      return card ? card.plots[chartName].data.map((values) => Array.from(values)) : null;
    },
  };

  connect();
  setInterval(tick, 1000);
})();
