'use strict';
// A small time-series line chart on canvas: no dependencies, redrawn on every update.
// draw(canvas, {series: [{label, color, data: [[tMillis, value], ...], dash, fill}], format})
const HGChart = (() => {
  const css = getComputedStyle(document.documentElement);
  const grid = 'rgba(134,145,161,0.14)';
  const axis = css.getPropertyValue('--muted').trim() || '#8691a1';
  const font = '11px ui-monospace, Menlo, Consolas, monospace';

  function niceStep(span, target) {
    const raw = span / Math.max(target, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  function timeStep(spanMs) {
    for (const s of [5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 1800e3, 3600e3]) if (spanMs / s <= 6) return s;
    return 7200e3;
  }

  function hhmmss(t) {
    const d = new Date(t);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(x => String(x).padStart(2, '0')).join(':');
  }

  function draw(canvas, opts) {
    canvas._opts = opts;
    if (!canvas._hover) attachHover(canvas);
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const fmt = opts.format || (v => v.toFixed(0));
    const pad = { l: 58, r: 14, t: 10, b: 24 };
    let tmin = Infinity, tmax = -Infinity, vmin = opts.yMin ?? 0, vmax = -Infinity;
    for (const s of opts.series) for (const [t, v] of s.data) {
      if (t < tmin) tmin = t; if (t > tmax) tmax = t;
      if (Number.isFinite(v)) { if (v > vmax) vmax = v; if (v < vmin) vmin = v; }
    }
    ctx.font = font;
    if (!Number.isFinite(tmin) || vmax === -Infinity) {
      ctx.fillStyle = axis;
      ctx.textAlign = 'center';
      ctx.fillText(opts.empty || 'waiting for data…', w / 2, h / 2);
      return;
    }
    if (tmax - tmin < 10e3) tmin = tmax - 10e3;
    if (vmax <= vmin) vmax = vmin + 1;
    const step = niceStep(vmax - vmin, 4);
    vmax = Math.ceil(vmax * 1.05 / step) * step;
    vmin = Math.floor(vmin / step) * step;
    let widest = 0;
    for (let v = vmin; v <= vmax + step / 2; v += step) widest = Math.max(widest, ctx.measureText(fmt(v)).width);
    pad.l = Math.ceil(widest) + 14;
    const X = t => pad.l + (t - tmin) / (tmax - tmin) * (w - pad.l - pad.r);
    const Y = v => pad.t + (1 - (v - vmin) / (vmax - vmin)) * (h - pad.t - pad.b);
    canvas._geom = { X, Y, tmin, tmax, pad, w, h };

    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let v = vmin; v <= vmax + step / 2; v += step) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.strokeStyle = grid;
      ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
      ctx.fillStyle = axis;
      ctx.fillText(fmt(v), pad.l - 8, y);
    }
    const ts = timeStep(tmax - tmin);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let t = Math.ceil(tmin / ts) * ts; t <= tmax; t += ts) {
      const x = Math.round(X(t)) + 0.5;
      ctx.strokeStyle = grid;
      ctx.beginPath(); ctx.moveTo(x, pad.t); ctx.lineTo(x, h - pad.b); ctx.stroke();
      ctx.fillStyle = axis;
      ctx.fillText(hhmmss(t), x, h - pad.b + 6);
    }

    for (const s of opts.series) {
      if (!s.data.length) continue;
      ctx.beginPath();
      s.data.forEach(([t, v], i) => (i ? ctx.lineTo(X(t), Y(v)) : ctx.moveTo(X(t), Y(v))));
      if (s.fill) {
        ctx.save();
        ctx.lineTo(X(s.data[s.data.length - 1][0]), Y(vmin));
        ctx.lineTo(X(s.data[0][0]), Y(vmin));
        ctx.closePath();
        ctx.globalAlpha = 0.14;
        ctx.fillStyle = s.color;
        ctx.fill();
        ctx.restore();
        ctx.beginPath();
        s.data.forEach(([t, v], i) => (i ? ctx.lineTo(X(t), Y(v)) : ctx.moveTo(X(t), Y(v))));
      }
      ctx.setLineDash(s.dash ? [6, 4] : []);
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width || 1.8;
      ctx.lineJoin = 'round';
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (canvas._mx != null) crosshair(canvas, ctx, fmt);
  }

  function crosshair(canvas, ctx, fmt) {
    const g = canvas._geom, opts = canvas._opts;
    if (!g || canvas._mx < g.pad.l || canvas._mx > g.w - g.pad.r) return;
    const t = g.tmin + (canvas._mx - g.pad.l) / (g.w - g.pad.l - g.pad.r) * (g.tmax - g.tmin);
    const rows = [];
    let tt = null;
    for (const s of opts.series) {
      let best = null;
      for (const p of s.data) if (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (best) { rows.push([s, best[1]]); tt = best[0]; }
    }
    if (tt == null) return;
    const x = Math.round(g.X(tt)) + 0.5;
    ctx.strokeStyle = 'rgba(216,222,230,0.35)';
    ctx.beginPath(); ctx.moveTo(x, g.pad.t); ctx.lineTo(x, g.h - g.pad.b); ctx.stroke();
    const lines = [hhmmss(tt), ...rows.map(([s, v]) => `${s.label}: ${fmt(v)}`)];
    ctx.font = font;
    const bw = Math.max(...lines.map(l => ctx.measureText(l).width)) + 18, bh = lines.length * 15 + 8;
    let bx = x + 10; if (bx + bw > g.w - g.pad.r) bx = x - 10 - bw;
    ctx.fillStyle = 'rgba(21,27,35,0.95)';
    ctx.strokeStyle = 'rgba(134,145,161,0.35)';
    ctx.fillRect(bx, g.pad.t, bw, bh); ctx.strokeRect(bx + .5, g.pad.t + .5, bw, bh);
    ctx.textAlign = 'left'; ctx.textBaseline = 'top';
    lines.forEach((l, i) => {
      ctx.fillStyle = i === 0 ? axis : rows[i - 1][0].color;
      ctx.fillText(l, bx + 9, g.pad.t + 5 + i * 15);
    });
  }

  function attachHover(canvas) {
    canvas._hover = true;
    canvas.addEventListener('mousemove', e => {
      canvas._mx = e.offsetX;
      if (canvas._opts) draw(canvas, canvas._opts);
    });
    canvas.addEventListener('mouseleave', () => {
      canvas._mx = null;
      if (canvas._opts) draw(canvas, canvas._opts);
    });
  }

  function legend(el, series) {
    el.replaceChildren(...series.map(s => {
      const span = document.createElement('span');
      const i = document.createElement('i');
      i.style.background = s.color;
      i.style.color = s.color;
      if (s.dash) i.className = 'dash';
      span.append(i, s.label);
      return span;
    }));
  }

  return { draw, legend };
})();
