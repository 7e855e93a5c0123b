/* Segmentation page: the score of each candidate k, the chosen one highlighted.
   The scores come from the page (json_script), stored when the segmentation was fitted. */
(function () {
  "use strict";
  var source = document.getElementById("segment-chart");
  var canvas = document.getElementById("k-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  if (!data.k || !data.k.length) { canvas.parentNode.innerHTML = '<p class="empty">Not recorded.</p>'; return; }
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6675";
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;  // drawn once, final at once (and in screenshots)
  var blue = "#1f6feb", orange = "#f4a259", grey = "#9aa4b2";
  var names = { silhouette: "Silhouette", bic: "BIC", inertia: "Inertia per customer" };

  function tooSmall(i) {
    return data.min_share !== null && data.smallest_share[i] !== null && data.smallest_share[i] < data.min_share;
  }

  var chosen = data.k.map(function (k) { return k === data.chosen; });
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.k.map(function (k) { return "k = " + k; }),
      datasets: [
        {
          label: (names[data.criterion] || data.criterion) + " (" + data.better + " is better, chooses k)",
          data: data.values, yAxisID: "y", borderColor: blue, backgroundColor: blue, borderWidth: 2, tension: 0.2,
          pointRadius: chosen.map(function (c) { return c ? 8 : 4; }),
          pointBackgroundColor: data.k.map(function (k, i) { return k === data.chosen ? orange : (tooSmall(i) ? "#ffffff" : blue); }),
          pointBorderColor: chosen.map(function (c) { return c ? orange : blue; })
        },
        {
          label: (names[data.second] || data.second) + " (for reference)",
          data: data.second_values, yAxisID: "y2", borderColor: grey, backgroundColor: grey, borderDash: [4, 4],
          borderWidth: 1, pointRadius: 2, tension: 0.2
        }
      ]
    },
    options: {
      plugins: {
        legend: { position: "bottom" },
        tooltip: { callbacks: { afterBody: function (items) {
          var i = items[0].dataIndex, lines = [];
          if (data.smallest_share[i] !== null && data.smallest_share[i] !== undefined) {
            lines.push("Smallest segment: " + (data.smallest_share[i] * 100).toFixed(1) + "% of customers");
          }
          if (data.k[i] === data.chosen) { lines.push("Chosen"); } else if (tooSmall(i)) { lines.push("Not eligible: a segment is too small"); }
          return lines;
        } } }
      },
      scales: {
        x: { grid: { display: false } },
        y: { position: "left", title: { display: true, text: names[data.criterion] || data.criterion }, grid: { color: "#eef1f4" } },
        y2: { position: "right", title: { display: true, text: names[data.second] || data.second }, grid: { display: false } }
      }
    }
  });
}());
