/* Strokes to Quick, Draw! bitmaps, in the browser: the same pipeline as quickdraw_cnn/sketches.py.
 *
 * simplify(strokes): Google's simplification (align to the top-left, the longer side scaled to
 * 0..255, resampled every pixel, Ramer-Douglas-Peucker with epsilon 2, rounded).
 * renderSimplified(simplified): Google's rendering (cairo in Google's code): white on black, line
 * width 16 and padding 16 in the 0..255 space, round caps and joins, the drawing centred on its
 * bounding box, anti-aliased into 28x28. Each stroke is the union of discs along its segments
 * (what round caps and joins draw), its coverage of every pixel counted on a 16x16 grid of
 * samples, and the strokes painted one over the other as cairo paints them.
 * render(strokes) = renderSimplified(simplify(strokes)): 784 grey values 0..255, row-major.
 * Strokes are Quick, Draw!'s [[x0, x1, ...], [y0, y1, ...]], y downwards.
 */
(function (root) {
  "use strict";
  var SIDE = 28, ORIGINAL_SIDE = 256, LINE_WIDTH = 16, PADDING = 16, SUPERSAMPLE = 16, EPSILON = 2;

  function roundHalfEven(v) { // numpy's np.round: halves to the even neighbour
    var r = Math.round(v);
    if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) r -= 1;
    return r;
  }

  function checkStrokes(strokes) {
    if (!Array.isArray(strokes) || strokes.length === 0) throw new Error("the pad is empty: draw something first");
    var out = strokes.map(function (s, k) {
      if (!Array.isArray(s) || !Array.isArray(s[0]) || !Array.isArray(s[1]) || s[0].length !== s[1].length || s[0].length === 0)
        throw new Error("stroke " + (k + 1) + " is not [[x0, x1, ...], [y0, y1, ...]]");
      var pts = [];
      for (var i = 0; i < s[0].length; i++) {
        var x = Number(s[0][i]), y = Number(s[1][i]);
        if (!isFinite(x) || !isFinite(y)) throw new Error("stroke " + (k + 1) + " has coordinates that are not numbers");
        pts.push([x, y]);
      }
      return pts;
    });
    return out;
  }

  function rdp(points, epsilon) {
    var n = points.length, keep = new Uint8Array(n);
    keep[0] = 1; keep[n - 1] = 1;
    var todo = [[0, n - 1]];
    while (todo.length) {
      var ab = todo.pop(), a = ab[0], b = ab[1];
      if (b - a < 2) continue;
      var sx = points[b][0] - points[a][0], sy = points[b][1] - points[a][1];
      var norm = Math.hypot(sx, sy), best = -1, bi = -1;
      for (var i = a + 1; i < b; i++) {
        var rx = points[i][0] - points[a][0], ry = points[i][1] - points[a][1];
        var d = norm > 0 ? Math.abs(sx * ry - sy * rx) / norm : Math.hypot(rx, ry);
        if (d > best) { best = d; bi = i; }
      }
      if (best > epsilon) { keep[bi] = 1; todo.push([a, bi], [bi, b]); }
    }
    return points.filter(function (_, i) { return keep[i]; });
  }

  function resample(points) {
    var out = [points[0]];
    for (var i = 0; i + 1 < points.length; i++) {
      var p = points[i], q = points[i + 1];
      var steps = Math.ceil(Math.hypot(q[0] - p[0], q[1] - p[1]));
      for (var t = 1; t <= steps; t++) out.push([p[0] + (t / steps) * (q[0] - p[0]), p[1] + (t / steps) * (q[1] - p[1])]);
    }
    return out;
  }

  function simplify(strokes) {
    var pts = checkStrokes(strokes), all = [].concat.apply([], pts);
    var lx = Infinity, ly = Infinity, hx = -Infinity, hy = -Infinity;
    all.forEach(function (p) { lx = Math.min(lx, p[0]); ly = Math.min(ly, p[1]); hx = Math.max(hx, p[0]); hy = Math.max(hy, p[1]); });
    var extent = Math.max(hx - lx, hy - ly);
    if (!(extent > 1e-9)) throw new Error("the drawing is a single dot: draw a shape");
    return pts.map(function (stroke) {
      var scaled = stroke.map(function (p) { return [(p[0] - lx) * 255 / extent, (p[1] - ly) * 255 / extent]; });
      var kept = rdp(resample(scaled), EPSILON);
      return [kept.map(function (p) { return roundHalfEven(p[0]); }), kept.map(function (p) { return roundHalfEven(p[1]); })];
    });
  }

  function renderSimplified(simplified) {
    var total = 2 * PADDING + LINE_WIDTH, scale = SIDE / (ORIGINAL_SIDE + total);
    var mx = -Infinity, my = -Infinity;
    simplified.forEach(function (s) { s[0].forEach(function (x) { mx = Math.max(mx, x); }); s[1].forEach(function (y) { my = Math.max(my, y); }); });
    var ox = (ORIGINAL_SIDE - mx) / 2 + total / 2, oy = (ORIGINAL_SIDE - my) / 2 + total / 2;
    var n = SIDE * SUPERSAMPLE, r = (LINE_WIDTH / 2) * scale * SUPERSAMPLE, r2 = r * r;
    var mask = new Uint8Array(n * n), value = new Float64Array(SIDE * SIDE);
    simplified.forEach(function (s) {
      mask.fill(0);
      var xs = s[0].map(function (x) { return (x + ox) * scale * SUPERSAMPLE; });
      var ys = s[1].map(function (y) { return (y + oy) * scale * SUPERSAMPLE; });
      for (var k = 0; k < xs.length; k++) { // segment k-1 -> k (a single point: a disc)
        var ax = xs[Math.max(k - 1, 0)], ay = ys[Math.max(k - 1, 0)], bx = xs[k], by = ys[k];
        if (k === 0 && xs.length > 1) continue;
        var dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
        var i0 = Math.max(0, Math.floor(Math.min(ay, by) - r - 0.5)), i1 = Math.min(n - 1, Math.ceil(Math.max(ay, by) + r - 0.5));
        var j0 = Math.max(0, Math.floor(Math.min(ax, bx) - r - 0.5)), j1 = Math.min(n - 1, Math.ceil(Math.max(ax, bx) + r - 0.5));
        for (var i = i0; i <= i1; i++) {
          var py = i + 0.5;
          for (var j = j0; j <= j1; j++) {
            if (mask[i * n + j]) continue;
            var px = j + 0.5, t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            var ex = px - ax - t * dx, ey = py - ay - t * dy;
            if (ex * ex + ey * ey <= r2) mask[i * n + j] = 1;
          }
        }
      }
      for (var pi = 0; pi < SIDE; pi++) for (var pj = 0; pj < SIDE; pj++) {
        var count = 0;
        for (var a = 0; a < SUPERSAMPLE; a++) {
          var row = (pi * SUPERSAMPLE + a) * n + pj * SUPERSAMPLE;
          for (var b = 0; b < SUPERSAMPLE; b++) count += mask[row + b];
        }
        if (count) { // white over what is there, in 8 bits as cairo keeps it
          var cover = Math.round((count * 255) / (SUPERSAMPLE * SUPERSAMPLE)), v = value[pi * SIDE + pj];
          value[pi * SIDE + pj] = Math.round(cover + (v * (255 - cover)) / 255);
        }
      }
    });
    return Array.from(value);
  }

  function render(strokes) { return renderSimplified(simplify(strokes)); }

  var api = { SIDE: SIDE, simplify: simplify, renderSimplified: renderSimplified, render: render, rdp: rdp };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.quickdrawRender = api;
})(typeof window !== "undefined" ? window : this);
