/* The /queries/<id> page: fetches /api/queries/<id> and draws its phases and fragments as DOM nodes
   (text only, never HTML). Phases are laid out in the order they run; fragments start together after
   their queued time, one lane per fragment labelled with its worker. */
(function () {
  "use strict";
  var PHASE_ORDER = ["planning", "execution", "aggregation", "coordination"];  // QueryExecution PHASES
  var DASH = "–";

  function $(id) { return document.getElementById(id); }
  function h(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    return el;
  }
  function fmtSeconds(v) {
    if (typeof v !== "number" || !isFinite(v)) { return DASH; }
    return v < 1 ? (v * 1000).toFixed(1) + " ms" : v.toFixed(3) + " s";
  }
  function fmtCount(v) { return typeof v === "number" && isFinite(v) ? Math.round(v).toLocaleString("en-US") : DASH; }

  function lane(label, bars, total, value) {
    var row = h("div", { class: "lane" });
    row.appendChild(h("span", { class: "lane-label" }, label));
    var track = h("div", { class: "lane-track" });
    bars.forEach(function (bar) {
      var el = h("span", { class: "lane-bar" + (bar.queued ? " queued" : ""), title: bar.title });
      if (bar.phase) { el.setAttribute("data-phase", bar.phase); }
      el.style.left = (total > 0 ? 100 * bar.start / total : 0) + "%";
      el.style.width = (total > 0 ? 100 * bar.length / total : 0) + "%";
      track.appendChild(el);
    });
    row.appendChild(track);
    row.appendChild(h("span", { class: "lane-value" }, value));
    return row;
  }

  function render(q) {
    $("query-status").textContent = q.error_occurred ? "failed" : "finished";
    $("query-sql").textContent = q.sql;
    $("query-plan").textContent = q.plan === null ? "no plan recorded" : q.plan;
    var facts = $("query-facts");
    [["Type", q.query_type], ["Started", q.start_time], ["Total", fmtSeconds(q.total_duration_ms / 1000)],
     ["Workers", fmtCount(q.workers_used)], ["Fragments", fmtCount(q.fragments_executed)],
     ["Rows", fmtCount(q.rows_processed)], ["Bytes", fmtCount(q.bytes_transferred)]].forEach(function (f) {
      var pair = h("div", { class: "fact" });
      pair.appendChild(h("dt", null, f[0]));
      pair.appendChild(h("dd", null, f[1]));
      facts.appendChild(pair);
    });
    if (q.error_message) { $("query-error").hidden = false; $("query-error").textContent = q.error_message; }
    var skew = $("query-skew");
    if (q.skew && q.skew.ratio !== null) {
      skew.hidden = false;
      skew.setAttribute("data-skewed", q.skew.skewed ? "true" : "false");
      skew.textContent = "Fragment skew " + q.skew.ratio.toFixed(2) + "× (slowest / median; flagged above " +
        q.skew.threshold + "×)";
    }
    var total = q.total_duration_ms / 1000;
    var phases = $("phase-timeline"), at = 0;
    PHASE_ORDER.forEach(function (name) {
      var seconds = q.phases[name];
      if (typeof seconds !== "number") { return; }
      phases.appendChild(lane(name, [{ start: at, length: seconds, phase: name, title: name }], total,
        fmtSeconds(seconds)));
      at += seconds;
    });
    var longest = q.fragments.reduce(function (m, f) { return Math.max(m, f.queued_seconds + f.seconds); }, 0);
    var span = Math.max(longest, 1e-9);
    var lanes = $("fragment-timeline"), body = $("fragments").tBodies[0];
    q.fragments.forEach(function (f) {
      lanes.appendChild(lane(f.worker_id, [
        { start: 0, length: f.queued_seconds, queued: true, title: "queued" },
        { start: f.queued_seconds, length: f.seconds, title: "running" }], span, fmtSeconds(f.seconds)));
      var tr = h("tr", { "data-worker-id": f.worker_id });
      [[f.worker_id, ""], [fmtSeconds(f.seconds), "num"], [fmtSeconds(f.queued_seconds), "num"],
       [fmtCount(f.rows), "num"], [fmtCount(f.bytes), "num"]].forEach(function (c) {
        tr.appendChild(h("td", c[1] ? { class: c[1] } : null, c[0]));
      });
      body.appendChild(tr);
    });
    if (!q.fragments.length) { lanes.appendChild(h("p", { class: "muted" }, "no fragments recorded")); }
    document.body.setAttribute("data-loaded", "true");
  }

  fetch(document.body.getAttribute("data-api"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    })
    .then(function (result) {
      if (!result.ok) {
        $("query-status").textContent = result.body.detail || "not found";
        document.body.setAttribute("data-loaded", "missing");
        return;
      }
      render(result.body);
    })
    .catch(function (error) { $("query-status").textContent = "could not load: " + error; });
})();
