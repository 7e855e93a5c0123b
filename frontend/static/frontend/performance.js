/* Performance dashboard charts: the trend, the funnel and the bars by segment.
   The numbers come from the page (json_script), computed by the server for the filters shown. */
(function () {
  "use strict";
  var source = document.getElementById("performance-charts");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6675";
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;  // drawn once, final at once (and in screenshots)
  var blue = "#1f6feb", orange = "#f4a259", teal = "#2ec4b6", grid = "#eef1f4";

  function percent(value) { return value === null || value === undefined ? "—" : value.toFixed(1) + "%"; }

  var trend = document.getElementById("trend-chart");
  if (trend) {
    new Chart(trend, {
      data: {
        labels: data.trend.labels,
        datasets: [
          { type: "bar", label: "Sent", data: data.trend.sent, backgroundColor: "#c9dcfb", borderRadius: 3, yAxisID: "y", order: 3 },
          { type: "line", label: "Conversions", data: data.trend.conversions, borderColor: blue, backgroundColor: blue,
            pointRadius: 2, tension: 0, yAxisID: "y", order: 1 },
          { type: "line", label: "Conversion rate to date", data: data.trend.rate, borderColor: orange, backgroundColor: orange,
            borderDash: [5, 4], pointRadius: 2, spanGaps: true, tension: 0, yAxisID: "rate", order: 2 }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 14 } },
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.yAxisID === "rate" ? ctx.dataset.label + ": " + percent(ctx.parsed.y)
                                                  : ctx.dataset.label + ": " + ctx.parsed.y.toLocaleString();
          } } }
        },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 10 } },
          y: { beginAtZero: true, grid: { color: grid }, title: { display: true, text: "Offers" }, ticks: { precision: 0 } },
          rate: { position: "right", beginAtZero: true, grid: { display: false }, title: { display: true, text: "Conversion rate" },
                  ticks: { callback: function (v) { return v + "%"; } } }
        }
      }
    });
  }

  var funnel = document.getElementById("funnel-chart");
  if (funnel) {
    var first = data.funnel.values[0] || 0;
    new Chart(funnel, {
      type: "bar",
      data: { labels: data.funnel.labels,
              datasets: [{ label: "Offers", data: data.funnel.values, borderRadius: 4, maxBarThickness: 34,
                           backgroundColor: [blue, "#4d8ef0", "#7aabf4", teal, "#1a9e8f"] }] },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: function (ctx) {
            var share = first ? " (" + percent(100 * ctx.parsed.x / first) + " of sent)" : "";
            return ctx.parsed.x.toLocaleString() + share;
          } } } },
        scales: { x: { beginAtZero: true, grid: { color: grid }, ticks: { precision: 0 } }, y: { grid: { display: false } } }
      }
    });
  }

  var split = document.getElementById("split-chart");
  if (split && data.split.series.length) {
    var colours = [blue, orange, teal, "#8e6cd8", "#e5567a", "#7a8899"];
    new Chart(split, {
      type: "line",
      data: {
        labels: data.split.labels,
        datasets: data.split.series.map(function (s, i) {
          var colour = colours[i % colours.length];
          return { label: s.label, data: s.conversions, borderColor: colour, backgroundColor: colour, pointRadius: 2,
                   tension: 0 };
        })
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 14 } } },
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } },
          y: { beginAtZero: true, grid: { color: grid }, title: { display: true, text: "Conversions" }, ticks: { precision: 0 } }
        }
      }
    });
  }

  var segments = document.getElementById("segment-chart");
  if (segments && data.segments.labels.length) {
    new Chart(segments, {
      data: {
        labels: data.segments.labels,
        datasets: [
          { type: "bar", label: "Conversion rate", data: data.segments.rate, backgroundColor: teal, borderRadius: 4,
            maxBarThickness: 40, xAxisID: "rate" },
          { type: "bar", label: "Sent", data: data.segments.sent, backgroundColor: "#c9dcfb", borderRadius: 4,
            maxBarThickness: 40, xAxisID: "count" }
        ]
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { position: "bottom", labels: { boxWidth: 14 } },
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.xAxisID === "rate" ? "Conversion rate: " + percent(ctx.parsed.x)
                                                  : "Sent: " + ctx.parsed.x.toLocaleString();
          } } } },
        scales: {
          rate: { position: "bottom", beginAtZero: true, grid: { color: grid }, title: { display: true, text: "Conversion rate" },
                  ticks: { callback: function (v) { return v + "%"; } } },
          count: { position: "top", beginAtZero: true, grid: { display: false }, title: { display: true, text: "Offers sent" },
                   ticks: { precision: 0 } },
          y: { grid: { display: false }, ticks: { autoSkip: false } }
        }
      }
    });
  }
}());
