function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function paintPixels(canvas, rgb, side) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    img.data[4 * i] = rgb[3 * i]; img.data[4 * i + 1] = rgb[3 * i + 1];
    img.data[4 * i + 2] = rgb[3 * i + 2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function render({ model, el }) {
  const root = make("div", "qd-pad");
  root.dataset.seq = "0";
  const left = make("div", "qd-left"), right = make("div", "qd-right");
  const size = model.get("size");
  const canvas = make("canvas", "qd-canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.height = Math.round(size * ratio);
  canvas.style.width = canvas.style.height = size + "px";
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const tools = make("div", "qd-tools");
  const undo = make("button", "qd-undo", "Undo"), clear = make("button", "qd-clear", "Clear");
  tools.append(undo, clear);
  const labels = make("div", "qd-labels");
  const saved = make("div", "qd-saved");
  left.append(make("div", "qd-hint", "Draw here (mouse, finger or pen)"), canvas, tools, labels, saved);

  const verdict = make("div", "qd-verdict", "");
  const bars = make("div", "qd-bars");
  const pics = make("div", "qd-pics");
  const bitmapBox = make("figure", "qd-fig"), occBox = make("figure", "qd-fig");
  const bitmap = make("canvas", "qd-bitmap"), occ = make("canvas", "qd-occlusion");
  bitmap.width = bitmap.height = occ.width = occ.height = 28;
  bitmapBox.append(bitmap, make("figcaption", "", "what the network gets (28x28)"));
  occBox.append(occ, make("figcaption", "qd-occ-caption", "occlusion map"));
  pics.append(bitmapBox, occBox);
  const message = make("div", "qd-message");
  right.append(verdict, bars, pics, message);
  root.append(left, right);
  el.append(root);

  let pending = [], current = null, t0 = null;

  function drawStroke(xs, ys) {
    ctx.beginPath();
    ctx.moveTo(xs[0], ys[0]);
    for (let i = 1; i < xs.length; i++) ctx.lineTo(xs[i], ys[i]);
    if (xs.length === 1) ctx.lineTo(xs[0] + 0.01, ys[0]);
    ctx.stroke();
  }
  function redraw() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = "#222"; ctx.lineWidth = 4; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of (model.get("strokes") || []).concat(pending)) drawStroke(s[0], s[1]);
    if (current) drawStroke(current[0], current[1]);
  }
  function point(ev) {
    const r = canvas.getBoundingClientRect();
    return [Math.round((ev.clientX - r.left) * 10) / 10, Math.round((ev.clientY - r.top) * 10) / 10];
  }
  canvas.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    canvas.setPointerCapture(ev.pointerId);
    if (t0 === null || (model.get("strokes") || []).length === 0) t0 = performance.now();
    const [x, y] = point(ev);
    current = [[x], [y], [Math.round(performance.now() - t0)]];
    redraw();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!current) return;
    const [x, y] = point(ev), n = current[0].length;
    if (Math.hypot(x - current[0][n - 1], y - current[1][n - 1]) < 1) return;
    current[0].push(x); current[1].push(y); current[2].push(Math.round(performance.now() - t0));
    redraw();
  });
  function finish() {
    if (!current) return;
    const stroke = current;
    current = null;
    pending.push(stroke);
    root.dataset.sent = String(performance.now());
    model.send({ event: "stroke", stroke: stroke });
    redraw();
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  undo.addEventListener("click", () => model.send({ event: "undo" }));
  clear.addEventListener("click", () => model.send({ event: "clear" }));

  function showLabels() {
    labels.replaceChildren();
    for (const c of model.get("categories")) {
      const b = make("button", "qd-label", "this is " + (/^[aeiou]/i.test(c) ? "an " : "a ") + c);
      b.dataset.category = c;
      b.addEventListener("click", () => model.send({ event: "label", category: c }));
      labels.append(b);
    }
  }
  function showSaved() {
    const s = model.get("saved"), parts = Object.keys(s).map((c) => s[c] + " " + c);
    saved.textContent = parts.length ? "saved so far: " + parts.join(", ") : "";
  }
  function showResult() {
    const r = model.get("result"), cats = model.get("categories");
    bars.replaceChildren();
    const probs = r.probabilities || {};
    const names = Object.keys(probs);
    const d = r.decision;
    if (d) { // a network with a reject option (09) has the last word: it may say "not sure"
      const pOther = d.probabilities.other;
      verdict.textContent = d.answer === "not sure"
        ? "not sure  (" + d.configuration + ": p(other) = " + pOther.toFixed(3) + ")"
        : d.answer + "  (" + d.configuration + ": p = " + d.probabilities[d.answer].toFixed(3) + ")";
      verdict.dataset.label = d.answer;
      verdict.dataset.p = String(d.answer === "not sure" ? pOther : d.probabilities[d.answer]);
    } else if (names.length) {
      const p = probs[names[0]], top = p > 0.5 ? cats[0] : cats[1];
      verdict.textContent = top + "  (" + names[0] + ": p = " + (p > 0.5 ? p : 1 - p).toFixed(3) + ")";
      verdict.dataset.label = top;
      verdict.dataset.p = String(p > 0.5 ? p : 1 - p);
    } else {
      verdict.textContent = ""; delete verdict.dataset.label; delete verdict.dataset.p;
    }
    for (const name of names) {
      const p = probs[name];
      const row = make("div", "qd-bar-row");
      row.dataset.config = name;
      const bar = make("div", "qd-bar");
      const a = make("div", "qd-bar-a"), b = make("div", "qd-bar-b");
      a.style.width = (100 * p).toFixed(1) + "%"; b.style.width = (100 * (1 - p)).toFixed(1) + "%";
      bar.append(a, b);
      row.append(make("span", "qd-bar-name", name), bar,
                 make("span", "qd-bar-text", cats[0] + " " + p.toFixed(3) + " · " + cats[1] + " " +
                      (1 - p).toFixed(3)));
      bars.append(row);
    }
    const blank = new Array(28 * 28 * 3).fill(255);
    const grey = r.bitmap ? r.bitmap.flatMap((v) => [255 - v, 255 - v, 255 - v]) : blank;
    paintPixels(bitmap, grey, 28);
    paintPixels(occ, r.occlusion_rgb || blank, 28);
    if (r.occlusion_model) {
      occBox.querySelector("figcaption").textContent =
        "occlusion map (" + r.occlusion_model + "): red for " + cats[0] + ", blue for " + cats[1];
    }
    root.dataset.seq = String(model.get("seq"));
  }
  function countStrokes() { root.dataset.strokes = String((model.get("strokes") || []).length); }
  model.on("change:strokes", () => { pending = []; countStrokes(); redraw(); });
  model.on("change:categories", () => { showLabels(); showResult(); });
  model.on("change:saved", showSaved);
  model.on("change:result", showResult);
  model.on("change:seq", () => { root.dataset.seq = String(model.get("seq")); });
  model.on("change:message", () => {
    message.textContent = model.get("message");
    message.style.display = model.get("message") ? "block" : "none";
  });
  message.textContent = model.get("message");
  message.style.display = model.get("message") ? "block" : "none";
  showLabels(); showSaved(); showResult(); countStrokes(); redraw();
}
export default { render };
