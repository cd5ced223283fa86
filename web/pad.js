/* The drawing pad of the series' web pages: draw with a mouse, a finger or a pen; after every
 * stroke the networks the series trained (exported as ONNX by quickdraw_cnn/export.py) answer in
 * the browser, with onnxruntime-web (WebAssembly, one thread), no Python and no server.
 *
 * Every element with class "qd-webpad" becomes a pad; data-base is the folder (relative to the
 * page) that holds models/ and ort/. The page's hooks, used by the pad itself and by tests:
 *   window.quickdraw.render(strokes)  -> 784 grey values 0..255 (row-major), from Quick, Draw!
 *                                        strokes [[xs], [ys]] (quickdraw.js: Google's pipeline)
 *   window.quickdraw.predict(pixels)  -> Promise of {configuration: {category: probability}}
 *   window.quickdraw.decide(pixels)   -> Promise of {configuration: {answer, probabilities}} for
 *                                        every configuration with a reject option (09): answer is
 *                                        one of its two categories or "not sure"
 * pixels: 784 grey values, each a number from 0 to 255; anything else is refused with an Error.
 *   window.quickdraw.ready            -> Promise of the list of configurations (or an Error)
 */
(function () {
  "use strict";
  var R = window.quickdrawRender, SIDE = 28, PAD_SIZE = 280;
  var base = (document.querySelector(".qd-webpad") || document.body).getAttribute("data-base") || "";
  var baseUrl = new URL(base || ".", document.baseURI).href.replace(/\/?$/, "/");
  var sessions = null;

  function fail(message) { var e = new Error(message); e.userMessage = message; return e; }

  function whyNot() { // null when this browser can run the networks, else the reason in words
    if (location.protocol === "file:")
      return "This page was opened as a file, and browsers do not let a page load a network from the disk. " +
        "Serve the folder instead, for example with: python3 -m http.server --directory site, then open http://localhost:8000/.";
    if (typeof WebAssembly !== "object")
      return "This browser cannot run WebAssembly, which the pad needs to run the network. Try a current Firefox, Chrome, Edge or Safari.";
    if (typeof window.ort === "undefined")
      return "The network runtime (ort/ort.wasm.min.js) did not load: the pages were built without it, or the folder is incomplete.";
    return null;
  }

  function load() {
    var reason = whyNot();
    if (reason) return Promise.reject(fail(reason));
    var ort = window.ort;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = baseUrl + "ort/";
    return fetch(baseUrl + "models/models.json").then(function (r) {
      if (!r.ok) throw fail("The list of networks (models/models.json) is missing from these pages.");
      return r.json();
    }).then(function (index) {
      if (!index.configurations || !index.configurations.length)
        throw fail(index.missing || "No trained network was exported when these pages were built.");
      return Promise.all(index.configurations.map(function (c) {
        return ort.InferenceSession.create(baseUrl + "models/" + c.file, { executionProviders: ["wasm"] })
          .then(function (s) { return { info: c, session: s }; });
      }));
    }).then(function (list) { // one run of each on a blank drawing: the first stroke waits for none
      sessions = list;
      return list.reduce(function (chain, s) {
        var feeds = {}; feeds[s.info.input] = new ort.Tensor("float32", new Float32Array(SIDE * SIDE), [1, SIDE, SIDE, 1]);
        return chain.then(function () { return s.session.run(feeds); });
      }, Promise.resolve());
    }).then(function () { return sessions.map(function (s) { return s.info; }); });
  }

  function checkPixels(pixels) { // 784 numbers in 0..255, or an Error that says what is wrong
    if (pixels === null || typeof pixels !== "object" || typeof pixels.length !== "number")
      throw new Error("the networks need 784 grey values (an array of numbers 0..255), got " + (pixels === null ? "null" : typeof pixels));
    if (pixels.length !== SIDE * SIDE)
      throw new Error("the networks need 784 grey values (28 x 28), got " + pixels.length);
    for (var i = 0; i < pixels.length; i++) {
      var v = pixels[i];
      if (typeof v !== "number" || !(v >= 0 && v <= 255)) // NaN fails both comparisons
        throw new Error("grey value " + i + " is " + String(v) + ": every grey value must be a number from 0 to 255");
    }
  }

  function decideOne(info, probs) { // the rule of quickdraw_cnn/reject.py: answer when 1 - p(other) >= threshold
    var rule = info.reject, cats = rule.categories;
    if (1 - probs[cats[2]] < rule.threshold) return "not sure";
    return probs[cats[0]] >= probs[cats[1]] ? cats[0] : cats[1];
  }

  function decide(pixels) {
    return predict(pixels).then(function (out) {
      var decided = {};
      sessions.forEach(function (s) {
        if (!s.info.reject) return;
        var probs = out[s.info.configuration];
        decided[s.info.configuration] = { answer: decideOne(s.info, probs), probabilities: probs };
      });
      return decided;
    });
  }

  function predict(pixels) {
    try { checkPixels(pixels); } catch (e) { return Promise.reject(e); }
    return ready.then(function () {
      var out = {}, chain = Promise.resolve();
      sessions.forEach(function (s) {
        var data = new Float32Array(SIDE * SIDE);
        for (var i = 0; i < data.length; i++) data[i] = pixels[i] * s.info.input_scale;
        var feeds = {}; feeds[s.info.input] = new window.ort.Tensor("float32", data, [1, SIDE, SIDE, 1]);
        chain = chain.then(function () { return s.session.run(feeds); }).then(function (res) {
          var y = res[s.session.outputNames[0]].data, probs = {}, cats = s.info.categories;
          if (s.info.output === "sigmoid") { probs[cats[0]] = y[0]; probs[cats[1]] = 1 - y[0]; }
          else cats.forEach(function (c, k) { probs[c] = y[k]; });
          out[s.info.configuration] = probs;
        });
      });
      return chain.then(function () { return out; });
    });
  }

  var ready = load();
  ready.catch(function () {}); // shown by each pad
  window.quickdraw = { render: R.render, simplify: R.simplify, renderSimplified: R.renderSimplified, predict: predict, decide: decide, ready: ready };

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; }

  function Pad(root) {
    var strokes = [], current = null, seq = 0;
    root.innerHTML = "";
    var canvas = el("canvas", "qd-canvas"); canvas.width = PAD_SIZE; canvas.height = PAD_SIZE;
    canvas.setAttribute("aria-label", "drawing pad: draw with the mouse, a finger or a pen");
    var side = el("div", "qd-side"), bitmap = el("canvas", "qd-bitmap"); bitmap.width = SIDE; bitmap.height = SIDE;
    var buttons = el("div", "qd-buttons"), undo = el("button", "qd-undo", "Undo"), clear = el("button", "qd-clear", "Clear");
    undo.type = clear.type = "button";
    var status = el("p", "qd-status", "Loading the networks…"), answers = el("div", "qd-answers");
    var verdict = el("p", "qd-verdict");
    buttons.append(undo, clear);
    side.append(el("div", "qd-caption", "what the network gets (28x28)"), bitmap, buttons);
    var row = el("div", "qd-row"); row.append(canvas, side);
    root.append(row, status, verdict, answers);
    var ctx = canvas.getContext("2d");
    root.dataset.seq = "0"; root.dataset.strokes = "0";

    function redraw() {
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
      ctx.strokeStyle = "#111"; ctx.lineWidth = 4; ctx.lineCap = ctx.lineJoin = "round";
      strokes.concat(current ? [current] : []).forEach(function (s) {
        ctx.beginPath(); ctx.moveTo(s[0][0], s[1][0]);
        for (var i = 1; i < s[0].length; i++) ctx.lineTo(s[0][i], s[1][i]);
        if (s[0].length === 1) ctx.lineTo(s[0][0] + 0.01, s[1][0]);
        ctx.stroke();
      });
    }

    function showBitmap(pixels) {
      var b = bitmap.getContext("2d"), img = b.createImageData(SIDE, SIDE);
      for (var i = 0; i < SIDE * SIDE; i++) {
        var v = pixels ? pixels[i] : 0;
        img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
      }
      b.putImageData(img, 0, 0);
    }

    function showAnswers(result) {
      answers.innerHTML = "";
      var best = null;
      Object.keys(result).forEach(function (name) {
        var probs = result[name], box = el("div", "qd-config");
        box.append(el("div", "qd-config-name", name));
        Object.keys(probs).sort(function (a, b) { return probs[b] - probs[a]; }).forEach(function (cat, k) {
          if (k >= 5) return;
          var line = el("div", "qd-bar"), fill = el("span", "qd-fill");
          fill.style.width = (100 * probs[cat]).toFixed(1) + "%";
          line.append(el("span", "qd-label", cat), fill, el("span", "qd-p", (100 * probs[cat]).toFixed(1) + "%"));
          line.dataset.category = cat; line.dataset.p = String(probs[cat]);
          box.append(line);
        });
        if (best === null) {
          var top = Object.keys(probs).sort(function (a, b) { return probs[b] - probs[a]; })[0];
          best = [top, probs[top], name];
        }
        answers.append(box);
      });
      var careful = sessions.filter(function (s) { return s.info.reject && result[s.info.configuration]; })[0];
      if (careful) { // a network with a reject option has the last word: it may say "not sure"
        var name = careful.info.configuration, said = decideOne(careful.info, result[name]);
        best = [said, said === "not sure" ? 1 - result[name][careful.info.reject.categories[2]] : result[name][said], name];
      }
      verdict.dataset.label = best ? best[0] : ""; verdict.dataset.p = best ? String(best[1]) : "";
      verdict.textContent = !best ? "" : best[0] === "not sure"
        ? "“Not sure”, says " + best[2] + ": neither an apple nor a banana, it thinks"
        : "“" + best[0] + "”, says " + best[2] + " (" + (100 * best[1]).toFixed(1) + "%)";
    }

    function answer() {
      var mine = ++seq, pixels = null, t0 = performance.now();
      root.dataset.strokes = String(strokes.length);
      if (!strokes.length) {
        showBitmap(null); answers.innerHTML = ""; verdict.textContent = ""; verdict.dataset.label = ""; verdict.dataset.p = "";
        status.textContent = "Draw an apple or a banana (or, for a many-category network, any of its categories).";
        root.dataset.seq = String(mine); return Promise.resolve();
      }
      try { pixels = R.render(strokes); } catch (e) {
        showBitmap(null); answers.innerHTML = ""; verdict.textContent = ""; verdict.dataset.label = "";
        status.textContent = e.message; root.dataset.seq = String(mine); return Promise.resolve();
      }
      showBitmap(pixels);
      return predict(pixels).then(function (result) {
        if (mine !== seq) return;
        showAnswers(result); status.textContent = "";
        root.dataset.answerMs = (performance.now() - t0).toFixed(2); // stroke's end to answer shown
        root.dataset.seq = String(mine);
      }, function (e) {
        if (mine !== seq) return;
        status.textContent = e.userMessage || ("The network could not run here: " + e.message);
        root.dataset.seq = String(mine);
      });
    }

    function point(ev) {
      var box = canvas.getBoundingClientRect();
      return [(ev.clientX - box.left) * PAD_SIZE / box.width, (ev.clientY - box.top) * PAD_SIZE / box.height];
    }
    canvas.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0 && ev.pointerType === "mouse") return;
      ev.preventDefault();
      try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* a pointer the browser no longer tracks */ }
      var p = point(ev); current = [[p[0]], [p[1]]]; redraw();
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!current) return;
      ev.preventDefault();
      var events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
      (events.length ? events : [ev]).forEach(function (e) { var p = point(e); current[0].push(p[0]); current[1].push(p[1]); });
      redraw();
    });
    function end(ev) {
      if (!current) return;
      ev.preventDefault(); strokes.push(current); current = null; redraw(); answer();
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    undo.addEventListener("click", function () { strokes.pop(); redraw(); answer(); });
    clear.addEventListener("click", function () { strokes = []; redraw(); answer(); });
    redraw(); showBitmap(null);
    ready.then(function (configs) {
      status.textContent = "Ready: " + configs.map(function (c) { return c.configuration; }).join(", ") +
        ". Draw " + (configs[0].categories.length === 2 ? "an " + configs[0].categories.join(" or a ") : "something") + ".";
      root.dataset.ready = "true";
    }, function (e) {
      status.textContent = e.userMessage || ("The networks could not be loaded in this browser: " + e.message);
      root.dataset.ready = "false"; root.classList.add("qd-unavailable");
    });
  }

  function start() { Array.prototype.forEach.call(document.querySelectorAll(".qd-webpad"), Pad); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
