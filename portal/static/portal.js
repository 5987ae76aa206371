// Herald consumer portal. Loaded before htmx: it takes the portal link's
// token from the URL fragment (which browsers never send to a server), keeps
// it for this tab only, and sends it as a bearer header on htmx's requests.
// No cookie is used, so no other site can make a request that carries it.
(function () {
  'use strict';
  var app = (/^\/portal\/apps\/([^/]+)/.exec(location.pathname) || [])[1] || '';
  var key = 'herald.portal.token.' + app;
  var themeKey = 'herald.portal.theme';
  var token = null;
  var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  function store(k, v) { try { sessionStorage.setItem(k, v); } catch (e) { /* storage blocked: keep it in memory */ } }
  function load(k) { try { return sessionStorage.getItem(k); } catch (e) { return null; } }
  if (m) {
    token = decodeURIComponent(m[1]);
    store(key, token);
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    token = load(key);
  }

  // Theming: an embedder may pass a few CSS variables in the link's query,
  // e.g. ?accent=%230a7&radius=2px. Values are checked, then set through the
  // CSSOM (allowed by the CSP, unlike inline styles).
  var names = ['accent', 'bg', 'fg', 'muted', 'surface', 'border', 'radius', 'font'];
  var theme = {};
  try { theme = JSON.parse(load(themeKey) || '{}'); } catch (e) { theme = {}; }
  var q = new URLSearchParams(location.search);
  names.forEach(function (n) {
    var v = q.get(n);
    if (v && /^[#(),.%\w\s'"-]{1,80}$/.test(v)) { theme[n] = v; }
  });
  store(themeKey, JSON.stringify(theme));
  names.forEach(function (n) {
    if (theme[n]) { document.documentElement.style.setProperty('--herald-' + n, theme[n]); }
  });

  document.addEventListener('htmx:configRequest', function (e) {
    if (token) { e.detail.headers.Authorization = 'Bearer ' + token; }
  });

  document.addEventListener('DOMContentLoaded', function () {
    var main = document.getElementById('main');
    if (!main || !app) { return; }
    if (!token) {
      main.replaceChildren();
      var h = document.createElement('h1');
      h.textContent = 'Portal link needed';
      var p = document.createElement('p');
      p.textContent = 'Open the portal from the link you were given; links work in the tab they were opened in.';
      main.append(h, p);
      return;
    }
    htmx.ajax('GET', location.pathname + location.search, { target: '#main', swap: 'innerHTML' });
  });

  // After a page swap, move focus to its heading so keyboard and screen
  // reader users start there.
  document.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'main') {
      var h = e.detail.target.querySelector('h1');
      if (h) { h.focus({ preventScroll: true }); }
    }
  });

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function draw(el) {
    var s = JSON.parse(el.dataset.series);
    var accent = cssVar('--herald-accent', '#2563eb');
    var bad = cssVar('--herald-danger', '#dc2626');
    var width = Math.max(240, el.clientWidth || 600);
    var opts = {
      width: width, height: 180, legend: { live: false },
      axes: [{ stroke: cssVar('--herald-fg', '#111') }, { stroke: cssVar('--herald-fg', '#111') }],
      series: [{}], scales: { x: { time: true } }
    };
    var data;
    if (el.dataset.kind === 'latency') {
      opts.title = 'Latency (ms)';
      opts.series.push({ label: 'p50', stroke: accent, width: 2, spanGaps: true },
        { label: 'p95', stroke: bad, width: 1, dash: [4, 4], spanGaps: true });
      data = [s.x, s.p50, s.p95];
    } else {
      opts.title = 'Deliveries per hour';
      opts.series.push({ label: 'succeeded', stroke: accent, fill: accent + '33', width: 2 },
        { label: 'failed', stroke: bad, fill: bad + '33', width: 2 });
      data = [s.x, s.succeeded, s.failed];
    }
    el.replaceChildren();
    new uPlot(opts, data, el);
    el.dataset.drawn = 'true';
  }

  document.addEventListener('htmx:afterSettle', function () {
    if (typeof uPlot === 'undefined') { return; }
    document.querySelectorAll('.chart[data-series]:not([data-drawn])').forEach(draw);
  });
})();
