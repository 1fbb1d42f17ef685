// The usage page's chart: credits per day, every day of the period, stacked by agent or
// person (billing/usage_chart.py sends the figures as JSON beside the canvas). Drawn with
// Chart.js (static/vendor/chartjs); the table under it has the same figures.
(function () {
  "use strict";

  const figure = document.querySelector("[data-usage-chart]");
  const source = document.getElementById("usage-chart-data");
  if (!figure || !source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  // Colours that stay apart for the colour-blind (Okabe and Ito), then greys.
  const colours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"];
  const credits = (value) => Number(value).toLocaleString(undefined, { maximumFractionDigits: 3 });

  const chart = new window.Chart(figure.querySelector("canvas"), {
    type: "bar",
    data: {
      labels: data.days,
      datasets: data.series.map((series, n) => ({
        label: series.label,
        data: series.credits,
        backgroundColor: colours[n % colours.length],
        stack: "credits",
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, title: { display: true, text: "Day" }, ticks: { maxRotation: 0, autoSkip: true } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "Credits" } },
      },
      plugins: {
        legend: { position: "bottom", title: { display: true, text: data.stackedBy } },
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${credits(item.parsed.y)} credits`,
            footer: (items) => `Total: ${credits(items.reduce((sum, item) => sum + item.parsed.y, 0))} credits`,
          },
        },
      },
    },
  });
  // For the browser tests: the chart that was drawn, and its figures.
  figure.dataset.drawn = String(chart.data.datasets.length);
})();
