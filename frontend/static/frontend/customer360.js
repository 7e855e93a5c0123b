/* Customer 360 charts. Data comes from the page (json_script), never from another server. */
(function () {
  "use strict";
  var source = document.getElementById("customer-charts");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#1f6feb", "#2ec4b6", "#f4a259", "#8e6bd8", "#e4572e", "#5b6675"];
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6675";
  Chart.defaults.maintainAspectRatio = false;

  function money(value) {
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: 0 });
  }

  function datasets(chart, style) {
    return chart.series.map(function (s, i) {
      var colour = palette[i % palette.length];
      return Object.assign({ label: s.label, data: s.values, borderColor: colour, backgroundColor: colour }, style(colour));
    });
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }

  draw("balance-chart", {
    type: "line",
    data: { labels: data.balance.labels, datasets: datasets(data.balance, function (c) {
      return { backgroundColor: c + "22", fill: true, tension: 0.3, pointRadius: 2, spanGaps: false };
    }) },
    options: {
      plugins: { legend: { display: data.balance.series.length > 1 },
        tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + " " + money(ctx.parsed.y); } } } },
      scales: { y: { ticks: { callback: money }, grid: { color: "#eef1f4" } }, x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 16 } } }
    }
  });

  draw("spending-chart", {
    type: "bar",
    data: { labels: data.spending.labels, datasets: datasets(data.spending, function () {
      return { borderRadius: 4, maxBarThickness: 22 };
    }) },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: data.spending.series.length > 1 },
        tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + " " + money(ctx.parsed.x); } } } },
      scales: { x: { ticks: { callback: money }, grid: { color: "#eef1f4" } }, y: { grid: { display: false } } }
    }
  });

  draw("score-chart", {
    type: "line",
    data: { labels: data.score.labels, datasets: datasets(data.score, function () {
      return { tension: 0.25, pointRadius: 3 };
    }) },
    options: {
      plugins: { legend: { display: false } },
      scales: { y: { suggestedMin: 300, suggestedMax: 850, grid: { color: "#eef1f4" } }, x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 16 } } }
    }
  });
}());
