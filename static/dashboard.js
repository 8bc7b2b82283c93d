/*
 * ByteDB live dashboard.
 *
 * Loads GET /api/history once, then follows the server-sent events of GET /api/stream.
 * All data is put into the page as DOM nodes and text nodes (never as HTML strings), so SQL
 * text and error messages always render as visible text.
 */
(function () {
  "use strict";

  var WINDOW_SECONDS = 15 * 60;
  var DASH = "\u2013";
  var PHASES = ["planning", "execution", "aggregation", "coordination"];
  var PHASE_FIELDS = {
    planning: "planning_duration_ms",
    execution: "execution_duration_ms",
    aggregation: "aggregation_duration_ms",
    coordination: "coordination_overhead_ms"
  };
  var WORKER_COLORS = ["#4ea1ff", "#3fb950", "#e3b341", "#a371f7", "#f778ba", "#39c5cf",
                       "#ff9b50", "#9ecbff", "#d2a8ff", "#7ee787", "#ffa198", "#b3b3ff"];

  var body = document.body;
  // Update interval: from the template when given, else from /api/history, else 2 s.
  var intervalFromPage = parseInt(body.getAttribute("data-stream-interval-ms"), 10) > 0;
  var intervalMs = intervalFromPage ? parseInt(body.getAttribute("data-stream-interval-ms"), 10) : 2000;

  /* ------------------------------------------------------------------ helpers */

  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function num(v) {
    if (isNum(v)) { return v; }
    if (typeof v === "string" && v.trim() !== "" && isFinite(Number(v))) { return Number(v); }
    return null;
  }
  function get(obj, path) {
    var cur = obj;
    for (var i = 0; i < path.length; i++) {
      if (cur === null || cur === undefined || typeof cur !== "object") { return undefined; }
      cur = cur[path[i]];
    }
    return cur;
  }
  function firstDefined() {
    for (var i = 0; i < arguments.length; i++) {
      if (arguments[i] !== undefined && arguments[i] !== null) { return arguments[i]; }
    }
    return null;
  }

  /** h("div", {class: "x", data: {id: 1}, title: "t"}, "text", node, [more]) -> Element */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) { return; }
        if (k === "data") {
          Object.keys(v).forEach(function (dk) {
            if (v[dk] !== undefined && v[dk] !== null) { el.setAttribute("data-" + dk, String(v[dk])); }
          });
        } else if (k === "style") {
          Object.keys(v).forEach(function (sk) { el.style[sk] = v[sk]; });
        } else if (k === "class") {
          el.className = v;
        } else {
          el.setAttribute(k, String(v));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) { append(el, arguments[i]); }
    return el;
  }
  function append(el, child) {
    if (child === undefined || child === null || child === false) { return; }
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    if (child instanceof Node) { el.appendChild(child); return; }
    el.appendChild(document.createTextNode(String(child)));
  }
  function replaceKids(el, kids) {
    while (el.firstChild) { el.removeChild(el.firstChild); }
    append(el, kids);
  }
  function $(id) { return document.getElementById(id); }

  /** Set an element's text and its raw value (data-value) for tests and tooling. */
  function setMetric(id, text, raw) {
    var el = $(id);
    if (!el) { return; }
    if (el.textContent !== text) { el.textContent = text; }
    el.setAttribute("data-value", raw === null || raw === undefined ? "" : String(raw));
  }

  /* ------------------------------------------------------------------ formatting */

  var intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

  function fmtFixed(v, digits) {
    v = num(v);
    return v === null ? DASH : v.toFixed(digits);
  }
  function fmtCount(v) {
    v = num(v);
    if (v === null) { return DASH; }
    var a = Math.abs(v);
    if (a >= 1e9) { return (v / 1e9).toFixed(a >= 1e10 ? 1 : 2) + "B"; }
    if (a >= 1e6) { return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + "M"; }
    return intFmt.format(Math.round(v));
  }
  /** 3 significant digits, no trailing zeros: 0.004768 -> "0.00477", 4.8828 -> "4.88", 20 -> "20"; 100 and up whole. */
  function sig3(v) {
    if (v === 0) { return "0"; }
    if (Math.abs(v) >= 100) { return v.toFixed(0); }
    return String(Number(v.toPrecision(3)));
  }
  function fmtRate(v) {
    v = num(v);
    if (v === null) { return DASH; }
    if (Math.abs(v) >= 1e4) { return sig3(v / 1e3) + "k"; }
    return sig3(v);
  }
  function fmtMs(v) {
    v = num(v);
    if (v === null) { return DASH; }
    var a = Math.abs(v);
    if (a >= 60000) {
      var m = Math.floor(a / 60000);
      return (v < 0 ? "-" : "") + m + "m " + Math.round((a - m * 60000) / 1000) + "s";
    }
    if (a >= 1000) { return sig3(v / 1000) + " s"; }
    if (a > 0 && a < 1) { return sig3(v * 1000) + " \u00b5s"; }
    return sig3(v) + " ms";
  }
  function fmtPct(v, digits) {
    v = num(v);
    if (v === null) { return DASH; }
    if (digits === undefined) {
      var a = Math.abs(v);
      if (a > 0 && a < 1) { return sig3(v) + "%"; } // 0.0412% stays visible instead of "0.0%"
      digits = a >= 100 ? 0 : 1;
    }
    return v.toFixed(digits) + "%";
  }
  /** Ratio fields (0..1) in query records; values above 1 are taken as percentages already. */
  function fmtBytes(v) {
    v = num(v);
    if (v === null) { return DASH; }
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(Math.abs(v) >= 100 ? 0 : 1)) + " " + units[i];
  }
  function fmtMB(v) {
    v = num(v);
    return v === null ? DASH : fmtBytes(v * 1024 * 1024);
  }
  /** A byte rate given in MiB/s (the API's *_throughput_mbps): B/s, KiB/s, MiB/s or GiB/s, 3 significant digits. */
  function fmtMbps(v) {
    v = num(v);
    if (v === null) { return DASH; }
    var rate = v * 1024 * 1024, units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"], i = 0;
    while (Math.abs(rate) >= 1024 && i < units.length - 1) { rate /= 1024; i++; }
    return sig3(rate) + " " + units[i];
  }
  function fmtDuration(seconds) {
    var s = num(seconds);
    if (s === null || s < 0) { return DASH; }
    s = Math.floor(s);
    var d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
    var mm = Math.floor((s % 3600) / 60), ss = s % 60;
    if (d > 0) { return d + "d " + hh + "h"; }
    if (hh > 0) { return hh + "h " + mm + "m"; }
    if (mm > 0) { return mm + "m " + ss + "s"; }
    return ss + "s";
  }
  function parseTime(v) {
    if (v === null || v === undefined || v === "") { return null; }
    if (isNum(v)) { return v > 1e12 ? v : v * 1000; } // epoch ms or epoch seconds
    var t = Date.parse(String(v));
    return isNaN(t) ? null : t;
  }
  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function fmtClock(v) {
    var t = parseTime(v);
    if (t === null) { return DASH; }
    var d = new Date(t);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }
  function fmtAgo(v) {
    var t = parseTime(v);
    if (t === null) { return DASH; }
    return fmtAgoSeconds((Date.now() - t) / 1000);
  }
  function fmtAgoSeconds(s) {
    s = num(s);
    if (s === null) { return DASH; }
    if (s < 1) { return "<1s ago"; }
    if (s < 60) { return Math.round(s) + "s ago"; }
    if (s < 3600) { return Math.floor(s / 60) + "m ago"; }
    return fmtDuration(s) + " ago";
  }
  function level(v, warn, bad) {
    v = num(v);
    if (v === null) { return "ok"; }
    return v >= bad ? "bad" : (v >= warn ? "warn" : "ok");
  }
  function statusOf(v) {
    return (v === null || v === undefined || v === "") ? "unknown" : String(v).toLowerCase();
  }
  function naturalCompare(a, b) {
    return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
  }

  /* ------------------------------------------------------------------ time series store */

  // Each entry: {t: epoch seconds, qps, p50, p95, p99, err, cpu: {worker: pct}, gap: bool}
  var series = [];

  function toEntry(point) {
    if (!point || typeof point !== "object") { return null; }
    var t = parseTime(point.timestamp);
    if (t === null) { return null; }
    var cpu = {};
    var wc = point.worker_cpu;
    if (wc && typeof wc === "object") {
      Object.keys(wc).forEach(function (id) { cpu[id] = num(wc[id]); });
    }
    return {
      t: t / 1000,
      qps: num(point.query_qps),
      p50: num(point.latency_p50_ms),
      p95: num(point.latency_p95_ms),
      p99: num(point.latency_p99_ms),
      err: num(point.error_rate_percent),
      cpu: cpu
    };
  }

  function gapSeconds() { return Math.max(3 * intervalMs / 1000, 10); }

  /** Add points (any order); keeps the store sorted, unique by time, and within the window. */
  function addPoints(points) {
    var changed = false;
    points.forEach(function (p) {
      var e = toEntry(p);
      if (!e) { return; }
      var last = series.length ? series[series.length - 1] : null;
      if (!last || e.t > last.t) {
        series.push(e);
        changed = true;
      } else {
        // Out of order (history arriving after the first live point): insert in place.
        var i = series.length - 1;
        while (i >= 0 && series[i].t > e.t) { i--; }
        // Skip it when a point already stands within half an interval (same sample, other clock).
        var near = intervalMs / 2000;
        if ((i >= 0 && e.t - series[i].t < near) ||
            (i + 1 < series.length && series[i + 1].t - e.t < near)) { return; }
        series.splice(i + 1, 0, e);
        changed = true;
      }
    });
    if (!changed) { return false; }
    var newest = series[series.length - 1].t;
    var cut = 0;
    while (cut < series.length && series[cut].t < newest - WINDOW_SECONDS) { cut++; }
    if (cut > 0) { series.splice(0, cut); }
    return true;
  }

  /** Columns for uPlot; a null row is inserted where the stream had a gap, so lines break. */
  function columns() {
    var xs = [], qps = [], p50 = [], p95 = [], p99 = [], rows = [];
    var gap = gapSeconds();
    for (var i = 0; i < series.length; i++) {
      var e = series[i];
      if (i > 0 && e.t - series[i - 1].t > gap) {
        xs.push(series[i - 1].t + intervalMs / 1000);
        qps.push(null); p50.push(null); p95.push(null); p99.push(null); rows.push(null);
      }
      xs.push(e.t); qps.push(e.qps); p50.push(e.p50); p95.push(e.p95); p99.push(e.p99); rows.push(e);
    }
    return { xs: xs, qps: qps, p50: p50, p95: p95, p99: p99, rows: rows };
  }

  /* ------------------------------------------------------------------ charts */

  var workerColor = {};
  var colorNext = 0;
  function colorFor(id) {
    if (!workerColor[id]) {
      workerColor[id] = WORKER_COLORS[colorNext % WORKER_COLORS.length];
      colorNext++;
    }
    return workerColor[id];
  }

  function axisStyle(extra) {
    var a = {
      stroke: "#8b98a9",
      grid: { stroke: "rgba(139,152,169,0.10)", width: 1 },
      ticks: { stroke: "rgba(139,152,169,0.20)", width: 1, size: 4 },
      font: "11px system-ui, sans-serif"
    };
    Object.keys(extra || {}).forEach(function (k) { a[k] = extra[k]; });
    return a;
  }

  function chartSize(el) {
    var w = Math.max(el.clientWidth || 0, 240);
    return { width: w, height: 200 };
  }

  /** Legend value: the hovered point, or the latest non-null value when the cursor is away. */
  function valueFmt(fn) {
    return function (u, v, sidx, idx) {
      if (idx === null || idx === undefined) { v = lastNonNull(u.data[sidx]); }
      return v === null || v === undefined ? DASH : fn(v);
    };
  }
  function lastNonNull(arr) {
    if (!arr) { return null; }
    for (var i = arr.length - 1; i >= 0; i--) { if (arr[i] !== null && arr[i] !== undefined) { return arr[i]; } }
    return null;
  }
  function clock(ts, withSeconds) {
    var d = new Date(ts * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + (withSeconds ? ":" + pad2(d.getSeconds()) : "");
  }
  function timeTicks(u, splits) {
    var step = splits.length > 1 ? splits[1] - splits[0] : 60;
    return splits.map(function (ts) { return ts === null ? "" : clock(ts, step < 60); });
  }
  function trimTick(v) { return sig3(v); }

  function makeChart(el, seriesDefs, yAxis, data) {
    var size = chartSize(el);
    var opts = {
      width: size.width,
      height: size.height,
      cursor: { points: { size: 6 }, drag: { x: false, y: false } },
      legend: { live: true },
      // At least one minute on the x axis, so a young series does not show sub-second ticks.
      scales: { x: { time: true, range: function (u, min, max) {
                  if (min === null || max === null) { var now = Date.now() / 1000; return [now - 60, now]; }
                  return [Math.min(min, max - 60), max];
                } }, y: yAxis.scale || { auto: true, range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [axisStyle({ values: timeTicks, size: 30 }),
             axisStyle({ size: 50, values: function (u, vals) { return vals.map(function (v) { return v === null ? "" : yAxis.tick(v); }); } })],
      series: [{ label: "time", value: valueFmt(function (ts) { return clock(ts, true); }) }].concat(seriesDefs)
    };
    replaceKids(el, []);
    return new uPlot(opts, data, el);
  }

  var charts = { qps: null, latency: null, cpu: null, cpuWorkers: "" };

  function qpsTick(v) { return v >= 10000 ? trimTick(v / 1000) + "k" : trimTick(v); }
  function msTick(v) { return v >= 1000 ? trimTick(v / 1000) + " s" : trimTick(v); }
  function pctTick(v) { return trimTick(v) + "%"; }

  function drawCharts() {
    if (typeof uPlot === "undefined") { return; }
    var c = columns();
    var qpsEl = $("chart-qps"), latEl = $("chart-latency"), cpuEl = $("chart-cpu");

    // Queries finished at the coordinator per second
    var qpsData = [c.xs, c.qps];
    if (!charts.qps) {
      charts.qps = makeChart(qpsEl, [{
        label: "queries/s", stroke: "#4ea1ff", width: 2, fill: "rgba(78,161,255,0.12)",
        value: valueFmt(function (v) { return fmtRate(v) + "/s"; }), spanGaps: false
      }], { tick: qpsTick }, qpsData);
    } else {
      charts.qps.setData(qpsData);
    }
    qpsEl.setAttribute("data-points", String(series.length));

    // Latency
    var latData = [c.xs, c.p50, c.p95, c.p99];
    if (!charts.latency) {
      charts.latency = makeChart(latEl, [
        { label: "p50", stroke: "#3fb950", width: 1.8, value: valueFmt(fmtMs) },
        { label: "p95", stroke: "#e3b341", width: 1.8, value: valueFmt(fmtMs) },
        { label: "p99", stroke: "#f85149", width: 1.8, value: valueFmt(fmtMs) }
      ], { tick: msTick }, latData);
    } else {
      charts.latency.setData(latData);
    }
    latEl.setAttribute("data-points", String(series.length));

    // Per-worker CPU: one series per worker seen in the window; rebuilt when that set changes.
    var seen = {};
    series.forEach(function (e) { Object.keys(e.cpu).forEach(function (id) { seen[id] = true; }); });
    var ids = Object.keys(seen).sort(naturalCompare);
    var cpuData = [c.xs];
    ids.forEach(function (id) {
      cpuData.push(c.rows.map(function (e) {
        if (!e) { return null; }
        var v = e.cpu[id];
        return v === undefined ? null : v;
      }));
    });
    var key = ids.join("\u0000");
    if (!charts.cpu || key !== charts.cpuWorkers) {
      if (charts.cpu) { charts.cpu.destroy(); }
      charts.cpu = makeChart(cpuEl, ids.map(function (id) {
        return { label: id, stroke: colorFor(id), width: 1.6, value: valueFmt(function (v) { return fmtPct(v); }) };
      }), { tick: pctTick, scale: { auto: false, range: [0, 100] } }, cpuData);
      charts.cpuWorkers = key;
    } else {
      charts.cpu.setData(cpuData);
    }
    cpuEl.setAttribute("data-points", String(series.length));
    cpuEl.setAttribute("data-series", String(ids.length));
  }

  function resizeCharts() {
    [["qps", "chart-qps"], ["latency", "chart-latency"], ["cpu", "chart-cpu"]].forEach(function (p) {
      var u = charts[p[0]], el = $(p[1]);
      if (u && el) {
        var s = chartSize(el);
        if (u.width !== s.width) { u.setSize(s); }
      }
    });
  }
  var resizeTimer = null;
  function scheduleResize() {
    if (resizeTimer) { return; }
    resizeTimer = setTimeout(function () { resizeTimer = null; resizeCharts(); }, 100);
  }
  if (typeof ResizeObserver !== "undefined") {
    var ro = new ResizeObserver(scheduleResize);
    ["chart-qps", "chart-latency", "chart-cpu"].forEach(function (id) { ro.observe($(id)); });
  } else {
    window.addEventListener("resize", scheduleResize);
  }

  /* ------------------------------------------------------------------ overview */

  function renderOverview(msg) {
    var ov = msg.overview || {}, cl = msg.cluster || {}, perf = msg.system_performance || {};
    var lat = msg.latency || {}, point = msg.point || {};

    var status = statusOf(firstDefined(ov.cluster_status, cl.status));
    var st = $("cluster-status");
    st.textContent = status === "unknown" ? DASH : status;
    st.setAttribute("data-status", status);
    $("cluster-card").setAttribute("data-status", status);

    var issues = Array.isArray(cl.issues) ? cl.issues : [];
    renderIfChanged("cluster-issues", issues, function () {
      replaceKids($("cluster-issues"), issues.map(function (t) { return h("li", { title: String(t) }, String(t)); }));
    });

    // Worker counts: from the cluster block, else counted from the workers themselves.
    var counts = { healthy: null, degraded: null, unhealthy: null, offline: null };
    var total = num(firstDefined(cl.total_workers, ov.total_workers));
    var fromCluster = {
      healthy: num(firstDefined(cl.healthy_workers, ov.healthy_workers)),
      degraded: num(cl.degraded_workers),
      unhealthy: num(cl.unhealthy_workers),
      offline: num(cl.offline_workers)
    };
    var workers = msg.workers && typeof msg.workers === "object" ? msg.workers : null;
    var statuses = cl.worker_statuses && typeof cl.worker_statuses === "object" ? cl.worker_statuses : null;
    if (!statuses && workers) {
      statuses = {};
      Object.keys(workers).forEach(function (id) { statuses[id] = get(workers[id], ["status", "status"]); });
    }
    Object.keys(counts).forEach(function (k) {
      if (fromCluster[k] !== null) { counts[k] = fromCluster[k]; }
      else if (statuses) {
        counts[k] = Object.keys(statuses).filter(function (id) { return statusOf(statuses[id]) === k; }).length;
      }
    });
    if (total === null && statuses) { total = Object.keys(statuses).length; }
    setMetric("workers-total", total === null ? DASH : fmtCount(total), total);
    Object.keys(counts).forEach(function (k) {
      setMetric("workers-" + k, counts[k] === null ? DASH : fmtCount(counts[k]), counts[k]);
      var box = $("workers-" + k).parentNode;
      box.setAttribute("data-zero", counts[k] ? "false" : "true");
    });

    // Queries finished at the coordinator; worker fragments are a different figure, shown on their own.
    var qps = num(ov.query_qps);
    setMetric("query-qps", fmtRate(qps), qps);
    var avg = num(ov.query_response_time_ms);
    setMetric("query-response-time", fmtMs(avg), avg);
    var fqps = num(perf.fragment_qps);
    setMetric("fragment-qps", fmtRate(fqps), fqps);

    var p50 = num(firstDefined(lat.p50_ms, point.latency_p50_ms));
    var p95 = num(firstDefined(lat.p95_ms, point.latency_p95_ms));
    var p99 = num(firstDefined(lat.p99_ms, point.latency_p99_ms));
    setMetric("latency-p50", fmtMs(p50), p50);
    setMetric("latency-p95", fmtMs(p95), p95);
    setMetric("latency-p99", fmtMs(p99), p99);

    var err = num(firstDefined(msg.error_rate_percent, point.error_rate_percent));
    setMetric("error-rate", fmtPct(err, 2), err);
    $("error-rate").setAttribute("data-level", level(err, 1, 5));

    var lb = num(perf.load_balance_score);
    // The score is 0..1 or 0..100 depending on the source; shown as-is with sensible precision.
    setMetric("load-balance", lb === null ? DASH : (lb <= 1 ? lb.toFixed(2) : lb.toFixed(0)), lb);

    var tq = num(ov.total_queries), sq = num(ov.successful_queries), fq = num(ov.failed_queries);
    setMetric("queries-total", fmtCount(tq), tq);
    setMetric("queries-successful", fmtCount(sq), sq);
    setMetric("queries-failed", fmtCount(fq), fq);

    var opt = num(ov.optimized_queries_percent);
    setMetric("optimized-queries", fmtPct(opt), opt);
    var util = num(perf.cluster_utilization_percent);
    setMetric("cluster-utilization", fmtPct(util), util);

    var up = num(ov.uptime);
    if (up === null && num(cl.uptime_ms) !== null) { up = num(cl.uptime_ms) / 1000; }
    setMetric("uptime", fmtDuration(up), up);
    var tput = num(perf.total_throughput_mbps);
    setMetric("total-throughput", fmtMbps(tput), tput);
  }

  /* ------------------------------------------------------------------ workers */

  function bar(label, pct, valueText, kind) {
    var p = num(pct);
    var width = p === null ? 0 : Math.max(0, Math.min(100, p));
    return h("div", { class: "bar-row", data: { metric: kind, value: p === null ? "" : p } },
      h("span", { class: "bar-label" }, label),
      h("div", { class: "bar", role: "meter", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100,
                 "aria-valuenow": p === null ? null : p.toFixed(1) },
        h("div", { class: "bar-fill", data: { level: level(p, 70, 90) }, style: { width: width + "%" } })),
      h("span", { class: "bar-value" }, valueText));
  }

  function stat(label, text, metric, raw, lvl) {
    return h("div", { class: "ws" },
      h("span", { class: "ws-l" }, label),
      h("span", { class: "ws-v", title: text, data: { metric: metric, value: raw === null || raw === undefined ? "" : raw, level: lvl } }, text));
  }

  function workerCard(id, w) {
    w = w || {};
    var st = w.status || {}, perf = w.performance || {}, res = w.resource_utilization || {};
    var qs = w.query_stats || {}, cache = w.cache_stats || {};
    var status = statusOf(st.status);
    var cpu = num(res.cpu_usage_percent), memPct = num(res.memory_usage_percent), memMb = num(res.memory_usage_mb);
    var hb = num(st.seconds_since_heartbeat);
    var issues = Array.isArray(st.issues) ? st.issues : [];
    var memText = memPct === null && memMb === null ? DASH
      : (memPct === null ? fmtMB(memMb) : fmtPct(memPct) + (memMb === null ? "" : " · " + fmtMB(memMb)));

    return h("article", { class: "worker", data: { "worker-id": id, status: status } },
      h("div", { class: "worker-head" },
        h("span", { class: "worker-id", title: id }, id),
        h("span", { class: "badge", data: { status: status } }, status === "unknown" ? DASH : status)),
      bar("CPU", cpu, fmtPct(cpu), "cpu"),
      bar("Mem", memPct, memText, "memory"),
      h("div", { class: "worker-stats" },
        stat("QPS", fmtRate(perf.queries_per_second), "qps", num(perf.queries_per_second)),
        stat("Active", fmtCount(qs.active_queries), "active-queries", num(qs.active_queries)),
        stat("Cache hit", fmtPct(cache.hit_rate_percent), "cache-hit-rate", num(cache.hit_rate_percent)),
        stat("Heartbeat", hb === null ? DASH : fmtAgoSeconds(hb), "heartbeat", hb,
             hb === null ? null : level(hb, 10, 30))),
      issues.length
        ? h("ul", { class: "worker-issues", data: { count: issues.length } },
            issues.map(function (t) { return h("li", { title: String(t) }, String(t)); }))
        : (st.message && status !== "healthy"
            ? h("div", { class: "worker-msg", title: String(st.message) }, String(st.message)) : null));
  }

  function renderWorkers(workers) {
    var grid = $("worker-grid");
    var map = workers && typeof workers === "object" ? workers : {};
    var ids = Object.keys(map).sort(naturalCompare);
    grid.setAttribute("data-count", String(ids.length));
    if (!ids.length) {
      replaceKids(grid, h("p", { class: "empty" }, "No workers reported yet."));
      return;
    }
    replaceKids(grid, ids.map(function (id) {
      var w = map[id] || {};
      return workerCard(String(firstDefined(w.worker_id, id)), w);
    }));
  }

  /* ------------------------------------------------------------------ alerts / recommendations */

  var SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  var PRIORITY_RANK = { high: 0, medium: 1, low: 2 };

  function renderAlerts(alerts) {
    var list = Array.isArray(alerts) ? alerts.slice() : [];
    list.sort(function (a, b) {
      var ak = (a && a.acknowledged) ? 1 : 0, bk = (b && b.acknowledged) ? 1 : 0;
      if (ak !== bk) { return ak - bk; }
      var ra = SEVERITY_RANK[statusOf(a && a.severity)], rb = SEVERITY_RANK[statusOf(b && b.severity)];
      ra = ra === undefined ? 3 : ra; rb = rb === undefined ? 3 : rb;
      if (ra !== rb) { return ra - rb; }
      return (parseTime(b && b.timestamp) || 0) - (parseTime(a && a.timestamp) || 0);
    });
    var ul = $("alerts");
    ul.setAttribute("data-count", String(list.length));
    var active = list.filter(function (a) { return a && !a.acknowledged; });
    var cnt = $("alerts-count");
    cnt.textContent = String(active.length);
    cnt.setAttribute("data-value", String(active.length));
    cnt.setAttribute("data-level", active.some(function (a) { return statusOf(a.severity) === "critical"; }) ? "bad"
      : (active.some(function (a) { return statusOf(a.severity) === "warning"; }) ? "warn" : "ok"));
    if (!list.length) {
      replaceKids(ul, h("li", { class: "empty" }, "No active alerts."));
      return;
    }
    replaceKids(ul, list.map(function (a) {
      a = a || {};
      var sev = statusOf(a.severity);
      var meta = [];
      if (a.component) { meta.push(String(a.component)); }
      if (a.worker_id && a.worker_id !== a.component) { meta.push(String(a.worker_id)); }
      if (a.type) { meta.push(String(a.type)); }
      if (a.timestamp) { meta.push(fmtClock(a.timestamp) + " (" + fmtAgo(a.timestamp) + ")"); }
      if (a.acknowledged) { meta.push("acknowledged"); }
      return h("li", { class: "alert", data: { severity: sev, "alert-id": a.id, acknowledged: a.acknowledged ? "true" : "false" } },
        h("span", { class: "badge", data: { status: sev } }, sev === "unknown" ? DASH : sev),
        h("span", { class: "alert-msg" }, a.message === undefined || a.message === null ? DASH : String(a.message)),
        meta.length ? h("span", { class: "alert-meta" }, meta.join(" · ")) : null);
    }));
  }

  function renderRecommendations(recs) {
    var list = Array.isArray(recs) ? recs.slice() : [];
    list.sort(function (a, b) {
      var ra = PRIORITY_RANK[statusOf(a && a.priority)], rb = PRIORITY_RANK[statusOf(b && b.priority)];
      return (ra === undefined ? 3 : ra) - (rb === undefined ? 3 : rb);
    });
    var ul = $("recommendations");
    ul.setAttribute("data-count", String(list.length));
    var cnt = $("recommendations-count");
    cnt.textContent = String(list.length);
    cnt.setAttribute("data-value", String(list.length));
    if (!list.length) {
      replaceKids(ul, h("li", { class: "empty" }, "Nothing to recommend."));
      return;
    }
    replaceKids(ul, list.map(function (r) {
      r = r || {};
      var pr = statusOf(r.priority);
      var meta = [];
      if (r.type) { meta.push(String(r.type)); }
      if (r.impact) { meta.push("impact: " + String(r.impact)); }
      return h("li", { class: "rec", data: { priority: pr, type: r.type } },
        h("span", { class: "badge", data: { status: pr } }, pr === "unknown" ? DASH : pr),
        h("span", { class: "rec-desc" }, r.description === undefined || r.description === null ? DASH : String(r.description)),
        r.action ? h("span", { class: "rec-action" }, String(r.action)) : null,
        meta.length ? h("span", { class: "rec-meta" }, meta.join(" · ")) : null);
    }));
  }

  function renderInsights(items) {
    var list = Array.isArray(items) ? items.slice() : [];
    list.sort(function (a, b) { return ((b && b.severity) === "critical") - ((a && a.severity) === "critical"); });
    var ul = $("insights");
    ul.setAttribute("data-count", String(list.length));
    var cnt = $("insights-count");
    cnt.textContent = String(list.length);
    cnt.setAttribute("data-value", String(list.length));
    if (!list.length) {
      replaceKids(ul, h("li", { class: "empty" }, "No query insights."));
      return;
    }
    replaceKids(ul, list.map(function (i) {
      i = i || {};
      var sev = statusOf(i.severity);
      var message = i.message === undefined || i.message === null ? DASH : String(i.message);
      return h("li", { class: "rec insight", data: { priority: sev, type: i.type } },
        h("span", { class: "badge", data: { status: sev } }, sev === "unknown" ? DASH : sev),
        h("span", { class: "rec-desc" }, i.type === "skewed_fragments" ? queryLink({ query_id: i.subject }, message) : message),
        i.recommendation ? h("span", { class: "rec-action" }, String(i.recommendation)) : null,
        i.type ? h("span", { class: "rec-meta" }, String(i.type)) : null);
    }));
  }

  /* ------------------------------------------------------------------ queries */

  function sqlText(v) {
    if (v === undefined || v === null || v === "") { return DASH; }
    return String(v).replace(/\s+/g, " ").trim();
  }
  function td(text, cls, attrs) {
    var a = attrs || {};
    a["class"] = cls || null;
    return h("td", a, text);
  }
  /** A link to the query's own page (/queries/<id>: phases, fragments, plan), relative to the dashboard. */
  function queryLink(q, text) {
    if (q.query_id === undefined || q.query_id === null || q.query_id === "") { return text; }
    return h("a", { class: "query-link", href: "queries/" + encodeURIComponent(String(q.query_id)),
                    title: "query " + String(q.query_id) }, text);
  }
  function sqlCell(sql) {
    var t = sqlText(sql);
    return td(h("span", { class: "sql-text" }, t), "sql", { title: sql === undefined || sql === null ? null : String(sql) });
  }

  function fillTable(id, rows) {
    var table = $(id);
    var tbody = table.tBodies[0];
    // Each cell carries its column's name: on a phone the rows stack and show it as a label.
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent; });
    rows.forEach(function (tr) {
      Array.prototype.forEach.call(tr.cells, function (cell, i) { cell.setAttribute("data-label", heads[i] || ""); });
    });
    replaceKids(tbody, rows);
    table.setAttribute("data-count", String(rows.length));
    var empty = document.querySelector('.table-empty[data-for="' + id + '"]');
    if (empty) { empty.hidden = rows.length > 0; }
  }

  function isFailed(q) {
    if (q.error_occurred === true) { return true; }
    return (q.error_occurred === undefined || q.error_occurred === null) && !!q.error_message;
  }
  function queryTime(q) { return firstDefined(q.end_time, q.start_time); }

  function renderRecent(list) {
    fillTable("recent-queries", list.map(function (q) {
      q = q || {};
      var failed = isFailed(q);
      var cr = num(q.cost_reduction);
      return h("tr", { data: { "query-id": q.query_id, status: failed ? "failed" : "success" } },
        td(queryLink(q, fmtClock(queryTime(q))), "time", { title: queryTime(q) }),
        sqlCell(q.sql),
        td(q.query_type ? String(q.query_type) : DASH),
        td(fmtMs(q.total_duration_ms), "num"),
        td(fmtCount(q.workers_used), "num"),
        td(fmtCount(q.fragments_executed), "num"),
        td(fmtCount(q.rows_processed), "num", { title: q.bytes_transferred === undefined ? null : fmtBytes(q.bytes_transferred) + " transferred" }),
        td(fmtPct(q.cache_hit_rate, 0), "num"),
        td(q.optimization_applied ? fmtPct(cr, 0) : DASH, "num"),
        h("td", null, h("span", { class: "badge", data: { status: failed ? "failed" : "success" } }, failed ? "failed" : "ok")));
    }));
  }

  function renderSlowest(list) {
    var rows = list.slice().sort(function (a, b) {
      return (num(b && b.total_duration_ms) || 0) - (num(a && a.total_duration_ms) || 0);
    });
    fillTable("slowest-queries", rows.map(function (q) {
      q = q || {};
      return h("tr", null,
        sqlCell(q.sql),
        td(fmtCount(q.execution_count), "num"),
        td(fmtMs(q.average_duration_ms), "num"),
        td(fmtMs(q.total_duration_ms), "num"),
        td(fmtCount(q.average_rows_processed), "num"),
        td(q.last_execution ? fmtAgo(q.last_execution) : DASH, "time", { title: q.last_execution }));
    }));
  }

  function renderFailed(list) {
    fillTable("failed-queries", list.map(function (q) {
      q = q || {};
      var msg = q.error_message === undefined || q.error_message === null || q.error_message === "" ? DASH : String(q.error_message);
      return h("tr", { data: { "query-id": q.query_id } },
        td(queryLink(q, fmtClock(queryTime(q))), "time", { title: queryTime(q) }),
        sqlCell(q.sql),
        td(msg, "err"),
        td(fmtMs(q.total_duration_ms), "num"));
    }));
  }

  function renderPhases(list) {
    var box = $("phase-breakdown");
    var rows = list.slice(0, 12);
    box.setAttribute("data-count", String(rows.length));
    if (!rows.length) {
      replaceKids(box, h("p", { class: "empty" }, "No queries yet."));
      return;
    }
    // Each bar is one query's own time split into its phases (100 % of the track); the duration
    // beside it gives the scale, so a 2 ms query next to a 2 s one is as readable as the slow one.
    var prepared = rows.map(function (q) {
      q = q || {};
      var parts = PHASES.map(function (p) {
        var v = num(q[PHASE_FIELDS[p]]);
        return { phase: p, ms: v !== null && v > 0 ? v : 0 };
      });
      var sum = parts.reduce(function (s, p) { return s + p.ms; }, 0);
      var total = num(q.total_duration_ms);
      if (total === null) { total = sum > 0 ? sum : null; }
      if (total !== null && total > sum) { parts.push({ phase: "other", ms: total - sum }); }
      var whole = Math.max(total || 0, sum);
      return { q: q, parts: parts, whole: whole, total: total };
    });
    replaceKids(box, prepared.map(function (r) {
      var q = r.q;
      var label = (q.query_id ? String(q.query_id).slice(0, 8) + "  " : "") + sqlText(q.sql);
      function share(ms) { return r.whole > 0 ? ms / r.whole * 100 : 0; }
      var tip = PHASES.concat(["other"]).map(function (p) {
        var part = r.parts.filter(function (x) { return x.phase === p; })[0];
        return part ? p + ": " + fmtMs(part.ms) + " (" + fmtPct(share(part.ms), 0) + ")" : null;
      }).filter(Boolean).join("\n");
      var barWidth = r.whole > 0 ? 100 : 0;
      return h("div", { class: "phase-row", data: { "query-id": q.query_id, failed: isFailed(q) ? "true" : "false" } },
        h("span", { class: "phase-label", title: q.sql === undefined || q.sql === null ? null : String(q.sql) }, label),
        h("div", { class: "phase-track", title: tip },
          h("div", { class: "phase-bar", style: { width: barWidth.toFixed(2) + "%" } },
            r.parts.filter(function (p) { return p.ms > 0; }).map(function (p) {
              return h("div", { class: "phase-seg", data: { phase: p.phase, ms: p.ms.toFixed(3) },
                                style: { width: share(p.ms).toFixed(2) + "%" },
                                title: p.phase + ": " + fmtMs(p.ms) + " (" + fmtPct(share(p.ms), 0) + ")" });
            }))),
        h("span", { class: "phase-total" }, fmtMs(r.total)));
    }));
  }

  function renderQueries(queries) {
    queries = queries || {};
    var recent = Array.isArray(queries.recent) ? queries.recent : [];
    var slowest = Array.isArray(queries.slowest) ? queries.slowest : [];
    var failed = Array.isArray(queries.failed) ? queries.failed : [];
    renderIfChanged("recent", recent, function () { renderRecent(recent); renderPhases(recent); });
    renderIfChanged("slowest", slowest, function () { renderSlowest(slowest); });
    renderIfChanged("failed", failed, function () { renderFailed(failed); });
  }

  /* ------------------------------------------------------------------ update cycle */

  // Re-render a section only when its data changed, so text selection and hover survive.
  var lastRendered = {};
  function renderIfChanged(key, data, fn) {
    var sig;
    try { sig = JSON.stringify(data); } catch (e) { sig = String(Math.random()); }
    if (lastRendered[key] === sig) { return; }
    lastRendered[key] = sig;
    fn();
  }

  var lastUpdate = null;

  function safely(name, fn) {
    try { fn(); } catch (e) {
      if (window.console) { console.warn("dashboard: could not render " + name, e); }
    }
  }

  function handleMessage(msg) {
    if (!msg || typeof msg !== "object") { return; }
    lastUpdate = parseTime(firstDefined(msg.timestamp, get(msg, ["overview", "last_updated"]))) || Date.now();
    var lu = $("last-updated");
    lu.textContent = fmtClock(lastUpdate);
    lu.setAttribute("datetime", new Date(lastUpdate).toISOString());
    lu.setAttribute("data-value", new Date(lastUpdate).toISOString());
    tickAgo();

    if (msg.point && addPoints([msg.point])) { safely("charts", drawCharts); }
    safely("overview", function () { renderOverview(msg); });
    safely("workers", function () { renderWorkers(msg.workers); });
    safely("alerts", function () { renderIfChanged("alerts", msg.alerts || [], function () { renderAlerts(msg.alerts); }); });
    safely("recommendations", function () {
      renderIfChanged("recommendations", msg.recommendations || [], function () { renderRecommendations(msg.recommendations); });
    });
    safely("insights", function () {
      renderIfChanged("insights", msg.insights || [], function () { renderInsights(msg.insights); });
    });
    safely("queries", function () { renderQueries(msg.queries); });
    body.setAttribute("data-updates", String((parseInt(body.getAttribute("data-updates"), 10) || 0) + 1));
  }

  var lastMessageAt = 0;
  function tickAgo() {
    var el = $("last-updated-ago");
    el.textContent = lastUpdate === null ? "" : "(" + fmtAgo(lastUpdate) + ")";
    // A connection that is open but silent for several intervals is shown as stale.
    var conn = $("connection-status");
    if (conn.getAttribute("data-state") === "live" && lastMessageAt &&
        Date.now() - lastMessageAt > Math.max(4 * intervalMs, 15000)) {
      setConnection("stale");
    }
  }
  setInterval(tickAgo, 1000);

  function setConnection(state) {
    var el = $("connection-status");
    el.setAttribute("data-state", state);
    el.querySelector(".conn-label").textContent = state;
    el.title = {
      live: "Receiving live updates",
      connecting: "Connecting to the live stream",
      reconnecting: "Connection lost; the browser is reconnecting",
      stale: "Connected, but no update for a while",
      offline: "Disconnected; retrying"
    }[state] || state;
  }

  /* ------------------------------------------------------------------ data sources */

  function loadHistory() {
    return fetch("/api/history", { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        var sec = num(data && data.interval_seconds);
        if (sec && sec > 0 && !intervalFromPage) {
          intervalMs = sec * 1000;
        }
        var points = data && Array.isArray(data.points) ? data.points : [];
        addPoints(points);
        safely("charts", drawCharts);
      })
      .catch(function (e) {
        if (window.console) { console.warn("dashboard: history unavailable", e); }
        safely("charts", drawCharts);
      });
  }

  var source = null;
  var retryDelay = 1000;
  var disconnectedAt = 0;
  function connect() {
    if (typeof EventSource === "undefined") { setConnection("offline"); return; }
    setConnection(source ? "reconnecting" : "connecting");
    source = new EventSource("/api/stream");
    source.onopen = function () {
      retryDelay = 1000;
      setConnection("live");
      // Back after a longer outage: fill the hole in the charts from the server's history.
      if (disconnectedAt && Date.now() - disconnectedAt > 2 * intervalMs) { loadHistory(); }
      disconnectedAt = 0;
    };
    source.onmessage = function (ev) {
      lastMessageAt = Date.now();
      if (ev.data === undefined || ev.data === "") { return; }
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) {
        if (window.console) { console.warn("dashboard: bad stream message", e); }
        return;
      }
      if ($("connection-status").getAttribute("data-state") !== "live") { setConnection("live"); }
      handleMessage(msg);
    };
    source.onerror = function () {
      if (!disconnectedAt) { disconnectedAt = Date.now(); }
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. HTTP error): retry ourselves with backoff.
        setConnection("offline");
        source.close();
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      } else {
        setConnection("reconnecting");
      }
    };
  }

  // Expose a tiny hook for tests and debugging (read-only use).
  window.bytedbDashboard = {
    handleMessage: handleMessage,
    seriesLength: function () { return series.length; },
    charts: charts
  };

  drawCharts();
  loadHistory().then(connect);
})();
