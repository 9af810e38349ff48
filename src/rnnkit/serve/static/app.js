/* rnnkit serve: the page. Four views over the JSON API (GET /api/runs tells which runs are loaded):
 * Explorer (POST /api/trace, GET /api/passages), Compose (POST /api/compose), Generate and Music
 * (POST /api/generate, read as NDJSON while it streams). No dependencies, no build step.
 */
"use strict";

(() => {
  const $ = (view, role) => view.querySelector(`[data-role="${role}"]`);
  const views = Object.fromEntries([...document.querySelectorAll(".view")].map((v) => [v.id.slice(5), v]));
  const page = { runs: [], limits: {} };

  const TASK_HELP = {
    text: "rnnkit train --task text",
    compose: "rnnkit train --task compose",
    music: "rnnkit train --task music",
  };

  async function api(path, body, signal) {
    const res = await fetch(path, body === undefined ? { signal } : {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal,
    });
    if (!res.ok) throw new Error(await problem(res));
    return res;
  }

  async function problem(res) {
    try {
      const data = await res.json();
      return `${res.status}: ${typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)}`;
    } catch {
      return `${res.status} ${res.statusText}`;
    }
  }

  /** Calls onLine(object) for every NDJSON line of a streamed response, as the lines arrive. */
  async function readLines(res, onLine) {
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) onLine(JSON.parse(line));
      }
    }
    if (buffer.trim()) onLine(JSON.parse(buffer));
  }

  function optionalInt(input) {
    const v = input.value.trim();
    return v === "" ? null : parseInt(v, 10);
  }

  function fillRuns(view, task) {
    const select = $(view, "run");
    const mine = page.runs.filter((r) => r.task === task);
    select.replaceChildren(...mine.map((r) => {
      const o = document.createElement("option");
      o.value = r.id;
      o.textContent = `${r.id} (${r.cell || "?"} ${r.num_layers || 1}×${r.hidden_size || "?"})`;
      return o;
    }));
    return mine.length > 0;
  }

  function noRun(view, task) {
    const box = document.createElement("div");
    box.className = "notice";
    box.dataset.role = "no-run";
    box.innerHTML = `<strong>No ${task} run is loaded.</strong> This view needs one: train it ` +
      `(<code>${TASK_HELP[task]}</code>), then start <code>rnnkit serve</code> again (it serves the latest ` +
      "run of each task under <code>runs/</code>) or name it: <code>rnnkit serve RUN_DIR …</code>.";
    view.querySelector(".needs-run").replaceWith(box);
  }

  // -- tabs ---------------------------------------------------------------------------------------------
  function show(name) {
    if (!views[name]) name = "explorer";
    for (const [k, v] of Object.entries(views)) v.classList.toggle("active", k === name);
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.view === name);
    if (name === "music" && music) music.redraw();
  }
  for (const t of document.querySelectorAll(".tab")) {
    t.addEventListener("click", () => { history.replaceState(null, "", "#" + t.dataset.view); show(t.dataset.view); });
  }
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));

  // -- Explorer -----------------------------------------------------------------------------------------
  function explorerView(view) {
    const explorer = RnnkitExplorer.create($(view, "explorer"));
    const runSel = $(view, "run"), passageSel = $(view, "passage"), text = $(view, "text");
    const status = $(view, "status"), error = $(view, "error"), count = $(view, "count");
    const limit = page.limits.max_trace_chars || 500;
    text.maxLength = limit;
    const counted = () => { count.textContent = `(${text.value.length} / ${limit} characters)`; };
    text.addEventListener("input", () => { counted(); passageSel.value = ""; });

    async function trace() {
      error.textContent = "";
      if (!text.value) { error.textContent = "type some text to trace"; return; }
      status.textContent = "tracing…";
      const start = performance.now();
      try {
        const res = await api("/api/trace", { text: text.value, top: 5, run: runSel.value });
        const data = await res.json();
        explorer.setTrace(data);
        view.dataset.traced = String(data.chars.length);
        status.textContent = `${data.chars.length} characters · ${data.layers} layer${data.layers === 1 ? "" : "s"} × ${data.hidden_size} ` +
          `units · ${data.gate_names.length} gates · ${Math.round(performance.now() - start)} ms`;
      } catch (e) {
        status.textContent = "";
        error.textContent = e.message;
      }
    }

    async function passages() {
      passageSel.replaceChildren(new Option("— your own text —", ""));
      try {
        const data = await (await api(`/api/passages?run=${encodeURIComponent(runSel.value)}`)).json();
        data.passages.forEach((p, i) => {
          const words = p.replace(/\s+/g, " ");
          passageSel.append(new Option(`${i + 1}. ${words.length > 70 ? words.slice(0, 70) + "…" : words}`, p));
        });
        passageSel.title = data.source;
        if (data.passages.length) { passageSel.value = data.passages[0]; text.value = data.passages[0]; }
      } catch (e) {
        passageSel.title = e.message;  // no passages: typed text only
      }
      if (!text.value) text.value = "In the beginning God created the heaven and the earth.";
      counted();
    }

    passageSel.addEventListener("change", () => { if (passageSel.value) { text.value = passageSel.value; counted(); trace(); } });
    $(view, "trace").addEventListener("click", trace);
    text.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) trace(); });
    runSel.addEventListener("change", async () => { await passages(); trace(); });
    passages().then(trace);
    window.rnnkitExplorer = explorer;
  }

  // -- Compose ------------------------------------------------------------------------------------------
  function composeView(view) {
    const input = $(view, "input"), ghost = $(view, "ghost"), list = $(view, "completions");
    const latency = $(view, "latency"), error = $(view, "error"), runSel = $(view, "run");
    const limit = page.limits.max_prefix_chars || 1000;
    let suggestion = "", timer = null, seq = 0, controller = null;

    function render() {
      const atEnd = input.selectionStart === input.value.length && input.selectionEnd === input.value.length;
      const s = atEnd ? suggestion : "";
      ghost.replaceChildren(document.createTextNode(input.value));
      if (s) {
        const span = document.createElement("span");
        span.className = "suggestion";
        span.textContent = s;
        ghost.append(span);
      }
      ghost.append(document.createTextNode("\u200b"));
      ghost.scrollTop = input.scrollTop;
      view.dataset.suggestion = s;
    }

    function fit(prefix, text) {  // the completion as it continues what was typed
      return /\s$/.test(prefix) ? text.replace(/^\s+/, "") : text;
    }

    async function ask() {
      const prefix = input.value;
      const mine = ++seq;
      if (controller) controller.abort();
      if (!prefix.trim()) { suggestion = ""; list.replaceChildren(); render(); return; }
      controller = new AbortController();
      const start = performance.now();
      try {
        const res = await api("/api/compose", { prefix: prefix.slice(-limit), num: 3, run: runSel.value },
          controller.signal);
        const data = await res.json();
        if (mine !== seq) return;  // typed on meanwhile
        error.textContent = "";
        const trip = performance.now() - start;
        latency.textContent = `latency: model ${data.latency_ms.toFixed(1)} ms · round trip ${trip.toFixed(0)} ms`;
        suggestion = data.completions.length ? fit(prefix, data.completions[0].text) : "";
        list.replaceChildren(...data.completions.map((c) => {
          const li = document.createElement("li");
          const p = document.createElement("span");
          p.className = "p";
          p.textContent = `p ${c.prob >= 0.001 ? c.prob.toFixed(3) : c.prob.toExponential(1)}`;
          const t = document.createElement("span");
          t.textContent = (c.text + (c.ends_sentence ? " ⏎" : "")).trim();
          li.append(p, t);
          li.title = "click to accept";
          li.addEventListener("mousedown", (e) => { e.preventDefault(); accept(fit(prefix, c.text)); });
          return li;
        }));
        render();
      } catch (e) {
        if (e.name === "AbortError" || mine !== seq) return;
        suggestion = "";
        render();
        error.textContent = e.message;
      }
    }

    function accept(text) {
      if (!text) return;
      input.value += text;
      input.selectionStart = input.selectionEnd = input.value.length;
      suggestion = "";
      render();
      ask();
    }

    input.addEventListener("input", () => {
      seq++;  // an answer still on its way is for text that has changed since: dropped
      if (controller) controller.abort();
      suggestion = "";
      render();
      clearTimeout(timer);
      timer = setTimeout(ask, 180);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Tab" && suggestion && input.selectionStart === input.value.length) {
        e.preventDefault();
        accept(suggestion);
      } else if (e.key === "Escape") {
        suggestion = "";
        render();
      }
    });
    for (const ev of ["keyup", "click", "scroll", "select"]) input.addEventListener(ev, render);
    runSel.addEventListener("change", ask);
    render();
  }

  // -- Generate -----------------------------------------------------------------------------------------
  function temperatureLabel(view) {
    const t = $(view, "temperature"), v = $(view, "temperature-value");
    const show = () => { v.textContent = (+t.value).toFixed(2); };
    t.addEventListener("input", show);
    show();
  }

  function generateView(view) {
    temperatureLabel(view);
    const out = $(view, "output"), stats = $(view, "stats"), error = $(view, "error");
    const go = $(view, "go"), stop = $(view, "stop"), steps = $(view, "steps");
    steps.max = String(page.limits.max_steps || 2000);
    let controller = null;

    async function generate() {
      if (controller) controller.abort();
      controller = new AbortController();
      error.textContent = "";
      out.replaceChildren();
      const cursor = document.createElement("span");
      cursor.className = "cursor";
      const generated = document.createTextNode("");
      go.disabled = true;
      stop.disabled = false;
      view.dataset.state = "streaming";
      const start = performance.now();
      let n = 0;
      try {
        const body = {
          prime: $(view, "prime").value, steps: parseInt(steps.value, 10) || 1,
          temperature: +$(view, "temperature").value, run: $(view, "run").value,
        };
        const k = optionalInt($(view, "top-k")), seed = optionalInt($(view, "seed"));
        if (k !== null) body.top_k = k;
        if (seed !== null) body.seed = seed;
        const res = await api("/api/generate", body, controller.signal);
        await readLines(res, (line) => {
          if (line.type === "prime") {
            const p = document.createElement("span");
            p.className = "prime";
            p.textContent = line.text;
            out.append(p, generated, cursor);
          } else if (line.type === "token") {
            generated.appendData(line.text);
            n++;
            if (n % 8 === 0) {
              const s = (performance.now() - start) / 1000;
              stats.textContent = `${n} characters · ${(n / s).toFixed(0)} characters/s`;
            }
            out.scrollTop = out.scrollHeight;
          } else if (line.type === "done") {
            stats.textContent = `${line.tokens} characters in ${line.seconds.toFixed(2)} s · ` +
              `${line.tokens_per_s ?? "—"} characters/s on the server`;
          }
        });
        view.dataset.state = "done";
      } catch (e) {
        view.dataset.state = e.name === "AbortError" ? "stopped" : "error";
        if (e.name !== "AbortError") error.textContent = e.message;
        else stats.textContent = `stopped after ${n} characters`;
      } finally {
        cursor.remove();
        go.disabled = false;
        stop.disabled = true;
        controller = null;
      }
    }

    go.addEventListener("click", generate);
    stop.addEventListener("click", () => controller && controller.abort());
    $(view, "prime").addEventListener("keydown", (e) => { if (e.key === "Enter") generate(); });
  }

  // -- Music --------------------------------------------------------------------------------------------
  const PITCH_CLASS = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };
  const NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

  /** "C4:1" -> {pitch: 60, beats: 1}; "rest:2" -> {pitch: null, beats: 2}. */
  function parseEvent(text) {
    const [head, dur] = text.split(":");
    const beats = dur === undefined ? 1 : parseFloat(dur);
    if (/^(rest|r)$/i.test(head)) return { pitch: null, beats };
    const m = /^([A-Ga-g])([#b♯♭]*)(-?\d+)$/.exec(head);
    if (!m) return { pitch: null, beats };
    let shift = 0;
    for (const c of m[2]) shift += c === "#" || c === "♯" ? 1 : -1;
    return { pitch: 12 * (parseInt(m[3], 10) + 1) + PITCH_CLASS[m[1].toUpperCase()] + shift, beats };
  }

  let music = null;

  function musicView(view) {
    temperatureLabel(view);
    const canvas = $(view, "roll"), eventsBox = $(view, "events"), stats = $(view, "stats");
    const error = $(view, "error"), go = $(view, "go"), play = $(view, "play"), stop = $(view, "stop");
    const midi = $(view, "midi"), steps = $(view, "steps");
    steps.max = String(page.limits.max_steps || 2000);
    let events = [], primed = 0, audio = null, playStart = 0, frame = null, controller = null, pending = false;

    function notes() {
      let beat = 0;
      return events.map((e, i) => {
        const n = { ...parseEvent(e), start: beat, primed: i < primed };
        beat += n.beats;
        return n;
      });
    }

    function draw(playhead = null) {
      const all = notes(), pitched = all.filter((n) => n.pitch !== null);
      const beats = all.length ? all[all.length - 1].start + all[all.length - 1].beats : 16;
      let lo = 60, hi = 72;
      if (pitched.length) {
        lo = Math.min(...pitched.map((n) => n.pitch)) - 2;
        hi = Math.max(...pitched.map((n) => n.pitch)) + 2;
      }
      const gutter = 40, rowH = Math.max(8, Math.min(16, Math.floor(300 / (hi - lo + 1))));
      const wrapWidth = canvas.parentElement.clientWidth || 800;
      const perBeat = Math.max(18, (wrapWidth - gutter - 2) / Math.max(beats, 8));
      const width = Math.ceil(gutter + perBeat * Math.max(beats, 8)) + 1, height = rowH * (hi - lo + 1) + 1;
      const dpr = window.devicePixelRatio || 1;
      if (canvas.width !== width * dpr || canvas.height !== height * dpr) {
        canvas.width = width * dpr;
        canvas.height = height * dpr;
        canvas.style.width = width + "px";
        canvas.style.height = height + "px";
      }
      const g = canvas.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.fillStyle = "#ffffff";
      g.fillRect(0, 0, width, height);
      const y = (p) => (hi - p) * rowH;
      for (let p = lo; p <= hi; p++) {  // the keys: black keys' rows shaded, every C named
        const black = [1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12);
        g.fillStyle = black ? "#f2f4f7" : "#ffffff";
        g.fillRect(gutter, y(p), width - gutter, rowH);
        g.fillStyle = black ? "#475467" : "#f9fafb";
        g.fillRect(0, y(p), gutter - 4, rowH);
        if (p % 12 === 0) {
          g.fillStyle = "#1d2430";
          g.font = "10px system-ui, sans-serif";
          g.fillText(NAMES[0] + (p / 12 - 1), 4, y(p) + rowH - 2);
          g.fillStyle = "#e4e7ec";
          g.fillRect(gutter, y(p) + rowH - 1, width - gutter, 1);
        }
      }
      for (let b = 0; b <= Math.max(beats, 8); b++) {  // beats, and a stronger line every bar of 4
        g.fillStyle = b % 4 === 0 ? "#d0d5dd" : "#eceef2";
        g.fillRect(gutter + b * perBeat, 0, 1, height);
      }
      let drawn = 0;
      for (const n of pitched) {
        g.fillStyle = n.primed ? "#667085" : "#2f5fd0";
        const x = gutter + n.start * perBeat + 1, w = Math.max(3, n.beats * perBeat - 2);
        g.beginPath();
        if (g.roundRect) g.roundRect(x, y(n.pitch) + 1, w, rowH - 2, 3);
        else g.rect(x, y(n.pitch) + 1, w, rowH - 2);
        g.fill();
        drawn++;
      }
      if (playhead !== null) {
        g.fillStyle = "#e8590c";
        g.fillRect(gutter + playhead * perBeat, 0, 2, height);
      }
      canvas.dataset.notes = String(drawn);
      canvas.dataset.beats = String(beats);
    }

    function schedule() {  // redraw at most once a frame while events stream in
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; draw(); });
    }

    function listEvents() {
      eventsBox.replaceChildren();
      const p = document.createElement("span");
      p.className = "primed";
      p.textContent = events.slice(0, primed).join(" ");
      eventsBox.append(p, document.createTextNode(" " + events.slice(primed).join(" ")));
    }

    async function generate() {
      halt();
      if (controller) controller.abort();
      controller = new AbortController();
      error.textContent = "";
      events = [];
      primed = 0;
      midi.style.display = "none";
      play.disabled = true;
      go.disabled = true;
      view.dataset.state = "streaming";
      draw();
      try {
        const body = {
          prime: $(view, "prime").value, steps: parseInt(steps.value, 10) || 1,
          temperature: +$(view, "temperature").value, run: $(view, "run").value,
        };
        const seed = optionalInt($(view, "seed"));
        if (seed !== null) body.seed = seed;
        const res = await api("/api/generate", body, controller.signal);
        await readLines(res, (line) => {
          if (line.type === "prime") {
            events = [...line.events];
            primed = events.length;
            if (line.notes.length) stats.textContent = line.notes.join("; ");
          } else if (line.type === "event") {
            events.push(line.event);
          } else if (line.type === "done") {
            events = [...line.events];
            const bytes = Uint8Array.from(atob(line.midi_base64), (c) => c.charCodeAt(0));
            if (midi.href) URL.revokeObjectURL(midi.href);
            midi.href = URL.createObjectURL(new Blob([bytes], { type: "audio/midi" }));
            midi.download = `${body.run || "melody"}-melody.mid`;
            midi.style.display = "";
            const beats = notes().reduce((s, n) => s + n.beats, 0);
            stats.textContent = `${line.generated} events generated in ${line.seconds.toFixed(2)} s · ` +
              `${beats} beats (${((beats * 60) / bpm()).toFixed(0)} s at ${bpm()} bpm)`;
          }
          schedule();
          listEvents();
        });
        view.dataset.state = "done";
        play.disabled = false;
      } catch (e) {
        view.dataset.state = "error";
        if (e.name !== "AbortError") error.textContent = e.message;
      } finally {
        go.disabled = false;
        controller = null;
        draw();
      }
    }

    function bpm() {
      const v = parseFloat($(view, "bpm").value);
      return Number.isFinite(v) ? Math.max(30, Math.min(240, v)) : 90;
    }

    function start() {
      halt();
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { error.textContent = "this browser has no Web Audio"; return; }
      audio = new Ctx();
      const master = audio.createGain();
      master.gain.value = 0.4;
      master.connect(audio.destination);
      const secPerBeat = 60 / bpm(), t0 = audio.currentTime + 0.08;
      const all = notes();
      for (const n of all) {
        if (n.pitch === null) continue;
        const on = t0 + n.start * secPerBeat, off = on + n.beats * secPerBeat * 0.95;
        const osc = audio.createOscillator(), env = audio.createGain();
        osc.type = "triangle";
        osc.frequency.value = 440 * Math.pow(2, (n.pitch - 69) / 12);
        env.gain.setValueAtTime(0, on);
        env.gain.linearRampToValueAtTime(0.5, on + 0.012);
        env.gain.setTargetAtTime(0.3, on + 0.012, 0.12);
        env.gain.setTargetAtTime(0, off - 0.02, 0.02);
        osc.connect(env).connect(master);
        osc.start(on);
        osc.stop(off + 0.15);
      }
      const total = all.length ? all[all.length - 1].start + all[all.length - 1].beats : 0;
      playStart = t0;
      stop.disabled = false;
      const tick = () => {
        if (!audio) return;
        const beat = (audio.currentTime - playStart) / secPerBeat;
        if (beat > total) { halt(); return; }
        draw(Math.max(0, beat));
        frame = requestAnimationFrame(tick);
      };
      frame = requestAnimationFrame(tick);
    }

    function halt() {
      if (frame) cancelAnimationFrame(frame);
      frame = null;
      if (audio) { audio.close(); audio = null; draw(); }
      stop.disabled = true;
    }

    go.addEventListener("click", generate);
    play.addEventListener("click", start);
    stop.addEventListener("click", halt);
    window.addEventListener("resize", () => draw());
    draw();
    music = { redraw: () => draw() };
  }

  // -- start ----------------------------------------------------------------------------------------------
  async function main() {
    const line = document.getElementById("runs-line");
    try {
      const data = await (await api("/api/runs")).json();
      page.runs = data.runs;
      page.limits = data.limits;
    } catch (e) {
      line.textContent = "cannot read /api/runs: " + e.message;
      line.classList.add("error");
      return;
    }
    line.replaceChildren(document.createTextNode(`${page.runs.length} run${page.runs.length === 1 ? "" : "s"}:`));
    for (const r of page.runs) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = `${r.id} · ${r.task}`;
      chip.title = `${r.cell || ""} ${r.num_layers || ""}×${r.hidden_size || ""}, ${r.parameters.toLocaleString()} ` +
        `parameters, checkpoint ${r.checkpoint}`;
      line.append(chip);
    }
    const builders = { explorer: explorerView, compose: composeView, generate: generateView, music: musicView };
    for (const [name, view] of Object.entries(views)) {
      const task = view.dataset.task;
      if (fillRuns(view, task)) builders[name](view);
      else noRun(view, task);
    }
    document.body.dataset.ready = "true";
  }

  show(location.hash.slice(1) || "explorer");
  main();
})();
