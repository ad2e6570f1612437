// Draws the tenant dashboard's charts from the JSON the page embeds (#dashboard-charts).
// The Chart instances are kept on window.clarionCharts ({day, week}) for inspection.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("dashboard-charts");
    if (!source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var charts = {};
    ["day", "week"].forEach(function (name) {
      var canvas = document.getElementById("chart-" + name);
      if (!canvas) return;
      charts[name] = new Chart(canvas, {
        type: "bar",
        data: { labels: data[name].labels, datasets: data[name].datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { position: "bottom" } }
        }
      });
    });
    window.clarionCharts = charts;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
