/* Model page charts: ROC, cumulative gains, calibration and feature importance.
   The points come from the page (json_script), computed when the model was trained. */
(function () {
  "use strict";
  var source = document.getElementById("model-charts");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6675";
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;  // drawn once, final at once (and in screenshots)
  var blue = "#1f6feb", grey = "#9aa4b2";

  var palette = [blue, "#f4a259", "#2ec4b6"];
  var unit = { type: "linear", min: 0, max: 1, grid: { color: "#eef1f4" } };

  function points(pairs) { return (pairs || []).map(function (p) { return { x: p[0], y: p[1] }; }); }

  function curve(id, series, xTitle, yTitle, reference, zoom) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    series = (series || []).filter(function (s) { return s.points && s.points.length; });
    if (!series.length) { canvas.parentNode.innerHTML = '<p class="empty">Not recorded.</p>'; return; }
    var top = 1;
    if (zoom) {
      // Propensities are small: show the range the points cover, not the whole unit square.
      var highest = 0;
      series.forEach(function (s) { s.points.forEach(function (p) { highest = Math.max(highest, p[0], p[1]); }); });
      top = Math.min(1, Math.ceil(highest * 1.1 * 20) / 20);
    }
    var axis = Object.assign({}, unit, { max: top });
    var datasets = series.map(function (s, i) {
      var colour = palette[i % palette.length];
      return { label: s.label, data: points(s.points), showLine: true, borderColor: colour, backgroundColor: colour,
               pointRadius: zoom ? 3 : 0, borderWidth: i === 0 ? 2.5 : 1.5 };
    });
    datasets.push({ label: reference, data: [{ x: 0, y: 0 }, { x: top, y: top }], showLine: true, borderColor: grey,
                    backgroundColor: grey, borderDash: [4, 4], pointRadius: 0, borderWidth: 1 });
    new Chart(canvas, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        plugins: { legend: { position: "bottom", labels: { boxWidth: 14 } } },
        scales: { x: Object.assign({ title: { display: true, text: xTitle } }, axis),
                  y: Object.assign({ title: { display: true, text: yTitle } }, axis) }
      }
    });
  }

  curve("roc-chart", data.roc, "False positive rate", "True positive rate", "Chance");
  curve("gains-chart", data.gains, "Share of customers contacted", "Share of take-ups captured", "Random order");
  curve("calibration-chart", data.calibration, "Predicted probability", "Observed take-up rate", "Perfect calibration", true);

  var importance = document.getElementById("importance-chart");
  if (importance && data.importance && data.importance.length) {
    new Chart(importance, {
      type: "bar",
      data: { labels: data.importance.map(function (f) { return f.feature; }),
              datasets: [{ label: "Gain", data: data.importance.map(function (f) { return f.gain; }), backgroundColor: blue, borderRadius: 4, maxBarThickness: 18 }] },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false },
          tooltip: { callbacks: { afterLabel: function (ctx) { return data.importance[ctx.dataIndex].label; } } } },
        scales: { x: { grid: { color: "#eef1f4" } }, y: { grid: { display: false }, ticks: { autoSkip: false, font: { size: 11 } } } }
      }
    });
  }
}());
