/* rnnkit Explorer: a trace (what POST /api/trace returns) shown character by character.
 *
 * Every character is coloured by one unit of one quantity (hidden state, cell state or any gate of the
 * cell) in one layer. The unit list sorts by activity (mean |value| over the text), by memory timescale
 * (from the lag-1 autocorrelation of the unit over the text) or by selectivity for a
 * span dragged over in the text (LSTMVis's select view: units at or above the threshold on the whole span,
 * ranked by how rarely they are that high elsewhere); the places where the best of those units fire
 * together are underlined. Hovering a character shows the model's most likely next characters.
 *
 * Used by the page of `rnnkit serve` (static/app.js) and inlined by `rnnkit explore` into one HTML file.
 * No dependencies; works from file:// too.
 */
"use strict";

const RnnkitExplorer = (() => {
  const SHOW = { " ": "␣", "\n": "↵", "\t": "⇥" };
  const shown = (c) => SHOW[c] || c;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function label(name) {
    if (name === "hidden") return "hidden state h";
    if (name === "cell") return "cell state c";
    return "gate: " + name.replace(/^gate:/, "");
  }

  /** The colour scale of a (T, H) matrix: sequential from 0 when nothing is negative, else diverging
   * around 0; the extent is 1 unless values go past it. */
  function scaleOf(matrix) {
    let lo = Infinity, hi = -Infinity;
    for (const row of matrix) for (const v of row) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const diverging = lo < -1e-6;
    const extent = Math.max(1, diverging ? Math.max(-lo, hi) : hi);
    return { diverging, lo: diverging ? -extent : 0, hi: extent };
  }

  const POS = [47, 95, 208], NEG = [214, 96, 77], WHITE = [255, 255, 255];
  function mix(a, b, t) { return a.map((x, i) => Math.round(x + (b[i] - x) * t)); }

  /** [background, text colour] of value v under scale s. */
  function colour(v, s) {
    let t, to;
    if (s.diverging) { t = Math.min(1, Math.abs(v) / s.hi); to = v < 0 ? NEG : POS; }
    else { t = Math.max(0, Math.min(1, v / s.hi)); to = POS; }
    const c = mix(WHITE, to, t);
    return [`rgb(${c[0]}, ${c[1]}, ${c[2]})`, t > 0.55 ? "#ffffff" : "#1d2430"];
  }

  /** Mean |value| per unit of a (T, H) matrix. */
  function activity(matrix) {
    const H = matrix[0].length, out = new Float64Array(H);
    for (const row of matrix) for (let u = 0; u < H; u++) out[u] += Math.abs(row[u]);
    return Array.from(out, (x) => x / matrix.length);
  }

  /** Memory timescale per unit of a (T, H) matrix, in steps: -1 / ln(rho), rho the lag-1 autocorrelation of
   * the unit's values over the text (a unit that keeps its value for long has rho near 1: a long memory);
   * 0 where rho <= 0, at most 1000. */
  function timescale(matrix) {
    const T = matrix.length, H = matrix[0].length, out = new Array(H).fill(0);
    if (T < 3) return out;
    for (let u = 0; u < H; u++) {
      let mean = 0;
      for (let t = 0; t < T; t++) mean += matrix[t][u];
      mean /= T;
      let num = 0, den = 0;
      for (let t = 0; t < T; t++) {
        const d = matrix[t][u] - mean;
        den += d * d;
        if (t) num += d * (matrix[t - 1][u] - mean);
      }
      const rho = den > 0 ? num / den : 0;
      out[u] = rho <= 0 ? 0 : Math.min(1000, -1 / Math.log(Math.min(rho, 0.999999)));
    }
    return out;
  }

  /** LSTMVis's selection: for each unit, the share of the span [a, b] where it is >= threshold (inside)
   * and the share of the other characters where it is (outside); score = inside - outside. Units on for
   * the whole span ("on") rank first, then by score. Returns [{unit, inside, outside, score, on}]. */
  function selectivity(matrix, a, b, threshold) {
    const T = matrix.length, H = matrix[0].length, n = b - a + 1;
    const rows = [];
    for (let u = 0; u < H; u++) {
      let inside = 0, outside = 0;
      for (let t = 0; t < T; t++) {
        if (matrix[t][u] >= threshold) { if (t >= a && t <= b) inside++; else outside++; }
      }
      const fin = inside / n, fout = T > n ? outside / (T - n) : 0;
      rows.push({ unit: u, inside: fin, outside: fout, score: fin - fout, on: inside === n });
    }
    rows.sort((x, y) => (y.on - x.on) || (y.score - x.score) || (x.unit - y.unit));
    return rows;
  }

  /** The steps outside [a, b] where every unit of `units` is >= threshold. */
  function matches(matrix, units, a, b, threshold) {
    const out = [];
    if (!units.length) return out;
    for (let t = 0; t < matrix.length; t++) {
      if (t >= a && t <= b) continue;
      if (units.every((u) => matrix[t][u] >= threshold)) out.push(t);
    }
    return out;
  }

  function create(root) {
    const state = {
      trace: null, layer: 0, quantity: "hidden", unit: 0, sort: "activity",
      sel: null, threshold: 0.3, k: 3, ranking: null, matched: [],
    };
    let spans = [], rows = new Map(), dragging = false, scale = null, matrix = null;

    // -- the DOM --------------------------------------------------------------------------------------
    const layerSel = el("select", { "aria-label": "layer", "data-role": "layer" });
    const quantitySel = el("select", { "aria-label": "quantity", "data-role": "quantity" });
    const unitInput = el("input", { type: "number", min: "0", value: "0", "aria-label": "unit", "data-role": "unit" });
    const prev = el("button", { class: "btn secondary", type: "button", title: "previous unit", text: "‹" });
    const next = el("button", { class: "btn secondary", type: "button", title: "next unit", text: "›" });
    const text = el("div", { class: "trace-text", "data-role": "trace-text" });
    const legendBar = el("div", { class: "bar" });
    const legendLo = el("span"), legendHi = el("span"), legendWhat = el("span");
    const sortSel = el("select", { "aria-label": "sort units", "data-role": "sort" },
      el("option", { value: "activity", text: "activity (mean |value|)" }),
      el("option", { value: "timescale", text: "memory timescale (steps)" }),
      el("option", { value: "selectivity", text: "selectivity for the span" }),
      el("option", { value: "unit", text: "unit number" }));
    const list = el("div", { class: "unit-list", "data-role": "unit-list" });
    const thresholdInput = el("input", { type: "range", min: "0", max: "1", step: "0.01", value: "0.3",
      "aria-label": "threshold", "data-role": "threshold" });
    const thresholdValue = el("span", { class: "stats" });
    const kInput = el("input", { type: "number", min: "1", max: "20", value: "3", "aria-label": "units to match",
      "data-role": "match-k" });
    const selInfo = el("div", { class: "small muted", "data-role": "selection",
      text: "Drag over characters in the text to select a span." });
    const clear = el("button", { class: "btn secondary", type: "button", text: "Clear" });
    const tooltip = el("div", { class: "tooltip", hidden: "" });
    const summary = el("div", { class: "small muted" });

    root.append(el("div", { class: "explorer-grid" },
      el("div", { class: "panel" },
        el("div", { class: "row" },
          el("label", { class: "field" }, el("span", { text: "Layer" }), layerSel),
          el("label", { class: "field" }, el("span", { text: "Quantity" }), quantitySel),
          el("label", { class: "field" }, el("span", { text: "Unit" }),
            el("div", { class: "row", style: "gap:4px;flex-wrap:nowrap" }, prev, unitInput, next)),
          summary),
        el("div", { style: "height:14px" }), text,
        el("div", { class: "legend" }, legendWhat, legendLo, legendBar, legendHi,
          el("span", { text: "· drag to select a span · hover for the next characters" }))),
      el("div", { class: "panel" },
        el("div", { class: "unit-head" }, el("h3", { text: "Units", style: "margin:0" }), sortSel),
        el("div", { class: "select-box" },
          el("div", { class: "row" },
            el("label", { class: "field" }, el("span", { text: "Threshold" }),
              el("div", { class: "row", style: "gap:8px;flex-wrap:nowrap;align-items:center" },
                thresholdInput, thresholdValue)),
            el("label", { class: "field", title: "how many of the best units must fire together" },
              el("span", { text: "Top units" }), kInput),
            clear),
          el("div", { style: "height:8px" }), selInfo),
        list)));
    document.body.append(tooltip);

    // -- drawing --------------------------------------------------------------------------------------
    function setTrace(trace) {
      state.trace = trace;
      state.sel = null;
      state.layer = trace.layers - 1;
      state.quantity = "hidden";
      layerSel.replaceChildren(...Array.from({ length: trace.layers },
        (_, i) => el("option", { value: String(i), text: `layer ${i + 1} of ${trace.layers}` })));
      layerSel.value = String(state.layer);
      quantitySel.replaceChildren(...Object.keys(trace.quantities).map(
        (q) => el("option", { value: q, text: label(q) })));
      quantitySel.value = state.quantity;
      unitInput.max = String(trace.hidden_size - 1);
      text.replaceChildren();
      spans = trace.chars.map((c, i) => {
        const s = el("span", { class: c === "\n" ? "ch nl" : "ch", "data-i": String(i) });
        s.textContent = c === "\n" ? "↵\n" : c;
        text.append(s);
        return s;
      });
      changeMatrix(true);
    }

    function changeMatrix(pickUnit) {
      const t = state.trace;
      matrix = t.quantities[state.quantity][state.layer];
      scale = scaleOf(matrix);
      const act = activity(matrix);
      if (pickUnit) state.unit = act.indexOf(Math.max(...act));
      const lo = scale.diverging ? 0 : scale.lo;
      thresholdInput.min = String(lo);
      thresholdInput.max = String(scale.hi);
      thresholdInput.step = String(scale.hi / 100);
      state.threshold = +(scale.hi * (scale.diverging ? 0.3 : 0.5)).toFixed(2);
      thresholdInput.value = String(state.threshold);
      const from = colour(scale.lo, scale)[0], mid = colour(0, scale)[0], to = colour(scale.hi, scale)[0];
      legendBar.style.background = scale.diverging
        ? `linear-gradient(90deg, ${from}, ${mid}, ${to})` : `linear-gradient(90deg, ${mid}, ${to})`;
      legendLo.textContent = scale.lo.toFixed(2);
      legendHi.textContent = scale.hi.toFixed(2);
      legendWhat.textContent = label(state.quantity) + ":";
      buildRows(act);
      updateSelection();
    }

    function buildRows(act) {
      rows = new Map();
      const tau = timescale(matrix);
      const T = matrix.length;
      for (let u = 0; u < matrix[0].length; u++) {
        const canvas = el("canvas", { width: "200", height: "18" });
        const score = el("span", { class: "score", text: act[u].toFixed(3) });
        const row = el("div", { class: "unit-row", "data-unit": String(u), onclick: () => setUnit(u, false) },
          el("span", { text: `unit ${u}` }), canvas, score);
        rows.set(u, { row, score, act: act[u], tau: tau[u] });
        const g = canvas.getContext("2d");
        g.strokeStyle = "#2f5fd0";
        g.lineWidth = 1;
        g.beginPath();
        for (let t = 0; t < T; t++) {
          const v = (matrix[t][u] - scale.lo) / (scale.hi - scale.lo);
          const x = T > 1 ? (t / (T - 1)) * 199 : 100, y = 17 - Math.max(0, Math.min(1, v)) * 16;
          if (t) g.lineTo(x, y); else g.moveTo(x, y);
        }
        g.stroke();
      }
    }

    function sortRows() {
      let order;
      if (state.sort === "selectivity" && state.ranking) {
        order = state.ranking.map((r) => r.unit);
        for (const r of state.ranking) rows.get(r.unit).score.textContent = r.score.toFixed(2);
      } else {
        const byTau = state.sort === "timescale";
        for (const [, r] of rows) r.score.textContent = byTau ? `τ ${r.tau.toFixed(1)}` : r.act.toFixed(3);
        order = [...rows.keys()];
        if (state.sort === "activity") order.sort((a, b) => rows.get(b).act - rows.get(a).act);
        if (byTau) order.sort((a, b) => rows.get(b).tau - rows.get(a).tau);
      }
      list.replaceChildren(...order.map((u) => rows.get(u).row));
    }

    function paint() {
      for (const [u, r] of rows) r.row.classList.toggle("active", u === state.unit);
      unitInput.value = String(state.unit);
      for (let t = 0; t < spans.length; t++) {
        const [bg, fg] = colour(matrix[t][state.unit], scale);
        spans[t].style.backgroundColor = bg;
        spans[t].style.color = fg;
      }
      const values = matrix.map((row) => row[state.unit]);
      const mean = values.reduce((a, b) => a + Math.abs(b), 0) / values.length;
      summary.textContent = `unit ${state.unit}: mean |value| ${mean.toFixed(3)}, ` +
        `range ${Math.min(...values).toFixed(2)} … ${Math.max(...values).toFixed(2)}`;
    }

    function setUnit(u, scroll = true) {
      const H = state.trace.hidden_size;
      state.unit = Math.max(0, Math.min(H - 1, u | 0));
      paint();
      const r = rows.get(state.unit);
      if (scroll && r && r.row.scrollIntoView) r.row.scrollIntoView({ block: "nearest" });
    }

    function updateSelection() {
      thresholdValue.textContent = (+state.threshold).toFixed(2);
      for (const s of spans) s.classList.remove("sel", "match");
      state.ranking = null;
      state.matched = [];
      if (state.sel) {
        const [a, b] = state.sel;
        for (let t = a; t <= b; t++) spans[t].classList.add("sel");
        state.ranking = selectivity(matrix, a, b, state.threshold);
        const on = state.ranking.filter((r) => r.on);
        const chosen = on.slice(0, state.k).map((r) => r.unit);
        state.matched = matches(matrix, chosen, a, b, state.threshold);
        for (const t of state.matched) spans[t].classList.add("match");
        const words = JSON.stringify(state.trace.chars.slice(a, b + 1).join(""));
        selInfo.textContent = on.length
          ? `Span ${a}–${b} ${words}: ${on.length} unit${on.length === 1 ? "" : "s"} ≥ ` +
            `${(+state.threshold).toFixed(2)} on all of it; units ${chosen.join(", ")} fire together at ` +
            `${state.matched.length} other character${state.matched.length === 1 ? "" : "s"} (underlined).`
          : `Span ${a}–${b} ${words}: no unit is ≥ ${(+state.threshold).toFixed(2)} on all of it; ` +
            "lower the threshold (units ranked by the share of the span they cover).";
        if (state.sort !== "unit") state.sort = "selectivity";
        if (on.length && state.unit !== chosen[0]) state.unit = chosen[0];
      } else {
        selInfo.textContent = "Drag over characters in the text to select a span.";
        if (state.sort === "selectivity") state.sort = "activity";
      }
      sortSel.value = state.sort;
      sortRows();
      paint();
    }

    function select(a, b) {
      if (a === null || a === undefined) { state.sel = null; }
      else {
        const T = spans.length;
        a = Math.max(0, Math.min(T - 1, a));
        b = Math.max(0, Math.min(T - 1, b === undefined ? a : b));
        state.sel = a <= b ? [a, b] : [b, a];
      }
      updateSelection();
    }

    // -- the tooltip ----------------------------------------------------------------------------------
    function showTooltip(i, event) {
      const t = state.trace, nextOnes = (t.next && t.next[i]) || [];
      const actual = t.chars[i + 1];
      const value = matrix[i][state.unit];
      const head = el("div", { class: "tt-head",
        text: `step ${i} · "${shown(t.chars[i])}" · unit ${state.unit} = ${value.toFixed(3)}` });
      const body = nextOnes.map((n) => el("div", { class: n.char === actual ? "tt-row actual" : "tt-row" },
        el("span", { text: shown(n.char) }),
        el("div", {}, el("div", { class: "tt-bar", style: `width:${Math.max(2, n.prob * 100).toFixed(1)}%` })),
        el("span", { text: (n.prob * 100).toFixed(1) + "%" })));
      tooltip.replaceChildren(head, el("div", { class: "small", style: "color:#98a2b3;margin-bottom:4px",
        text: "next character" }), ...body);
      tooltip.hidden = false;
      const x = Math.min(window.innerWidth - 200, event.clientX + 14);
      const y = Math.min(window.innerHeight - 40 - 22 * nextOnes.length, event.clientY + 16);
      tooltip.style.left = x + "px";
      tooltip.style.top = y + "px";
    }

    // -- events ---------------------------------------------------------------------------------------
    const indexOf = (target) => (target && target.dataset && target.dataset.i !== undefined ? +target.dataset.i : null);
    text.addEventListener("mousedown", (e) => {
      const i = indexOf(e.target);
      if (i === null) return;
      e.preventDefault();
      dragging = true;
      state.sel = [i, i];
      for (const s of spans) s.classList.remove("sel");
      spans[i].classList.add("sel");
    });
    text.addEventListener("mouseover", (e) => {
      const i = indexOf(e.target);
      if (i === null) return;
      if (dragging) {
        const a = Math.min(state.sel[0], i), b = Math.max(state.sel[0], i);
        state.sel = [state.sel[0], i];
        spans.forEach((s, t) => s.classList.toggle("sel", t >= a && t <= b));
      }
      showTooltip(i, e);
    });
    text.addEventListener("mousemove", (e) => { const i = indexOf(e.target); if (i !== null) showTooltip(i, e); });
    text.addEventListener("mouseleave", () => { tooltip.hidden = true; });
    document.addEventListener("mouseup", () => {
      if (!dragging) return;
      dragging = false;
      select(state.sel[0], state.sel[1]);
    });
    layerSel.addEventListener("change", () => { state.layer = +layerSel.value; changeMatrix(false); });
    quantitySel.addEventListener("change", () => { state.quantity = quantitySel.value; changeMatrix(false); });
    unitInput.addEventListener("change", () => { if (+unitInput.value !== state.unit) setUnit(+unitInput.value); });
    prev.addEventListener("click", () => setUnit(state.unit - 1));
    next.addEventListener("click", () => setUnit(state.unit + 1));
    sortSel.addEventListener("change", () => { state.sort = sortSel.value; sortRows(); });
    thresholdInput.addEventListener("input", () => { state.threshold = +thresholdInput.value; updateSelection(); });
    kInput.addEventListener("change", () => {
      state.k = Math.max(1, Math.min(20, +kInput.value | 0));
      kInput.value = String(state.k);
      updateSelection();
    });
    clear.addEventListener("click", () => select(null));

    return {
      setTrace, select, setUnit, state,
      setLayer(l) { state.layer = l; layerSel.value = String(l); changeMatrix(false); },
      setQuantity(q) { state.quantity = q; quantitySel.value = q; changeMatrix(false); },
    };
  }

  return { create, selectivity, matches, activity, timescale, scaleOf, colour };
})();

if (typeof window !== "undefined") window.RnnkitExplorer = RnnkitExplorer;
