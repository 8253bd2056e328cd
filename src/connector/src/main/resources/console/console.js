// The operator console's only script (served from the jar; no inline scripts: the pages' CSP forbids them).
(function () {
  'use strict';
  function cookie(name) {
    var m = document.cookie.match('(?:^|; )' + name + '=([^;]*)');
    return m ? decodeURIComponent(m[1]) : null;
  }
  // CSRF: every htmx request sends the current token (Vert.x's CSRF handler rotates it after each POST).
  document.addEventListener('htmx:configRequest', function (e) {
    var token = cookie('XSRF-TOKEN');
    if (token) { e.detail.headers['X-XSRF-TOKEN'] = token; }
  });
  // Answers other than 2xx (401, 403, 409, ...) are shown where the request's answer would go.
  document.addEventListener('htmx:beforeSwap', function (e) {
    if (e.detail.xhr.status >= 400) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  // Plain forms (sign out, sign in) too: their hidden field may hold a token an htmx POST has rotated since.
  document.addEventListener('submit', function (e) {
    var field = e.target.querySelector('input[name="X-XSRF-TOKEN"]');
    var token = cookie('XSRF-TOKEN');
    if (field && token) { field.value = token; }
  }, true);

  var colours = { created: '#2e7d32', updated: '#1565c0', failed: '#c62828',
    'calls|partnercenter': '#5e35b1', 'calls|dataverse': '#00838f', '429|partnercenter': '#ef6c00', '429|dataverse': '#ad1457' };
  var labels = { created: 'created', updated: 'updated', failed: 'failed',
    'calls|partnercenter': 'Partner Center calls', 'calls|dataverse': 'Dataverse calls',
    '429|partnercenter': 'Partner Center 429s', '429|dataverse': 'Dataverse 429s' };
  function draw(canvas) {
    if (!window.Chart) { return; }
    var data = JSON.parse(canvas.dataset.chart);
    var hours = Object.keys(data);
    var series = hours.length ? Object.keys(data[hours[0]]) : [];
    var api = canvas.dataset.kind === 'api';
    new window.Chart(canvas, {
      type: 'bar',
      data: {
        labels: hours,
        datasets: series.map(function (s) {
          return { label: labels[s] || s, data: hours.map(function (h) { return data[h][s]; }), backgroundColor: colours[s],
            stack: api ? s.split('|')[0] : 'syncs' };
        })
      },
      options: { animation: false, responsive: true, plugins: { legend: { position: 'bottom' } },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('canvas[data-chart]').forEach(draw);
  });
})();
