// Dashboard charts (ECharts, served by the app itself).
document.addEventListener("DOMContentLoaded", function () {
  var node = document.getElementById("chart-data");
  if (!node || !window.echarts) { return; }
  var data = JSON.parse(node.textContent);
  var red = "#c8102e";
  var ranking = document.getElementById("ranking-chart");
  if (ranking) {
    var chart = echarts.init(ranking);
    chart.setOption({
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: data.ranking.names, axisLabel: { width: 140, overflow: "truncate" } },
      tooltip: { trigger: "axis" },
      series: [{ type: "bar", data: data.ranking.values, itemStyle: { color: red } }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  var trend = document.getElementById("trend-chart");
  if (trend) {
    var line = echarts.init(trend);
    line.setOption({
      grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.trend.days },
      yAxis: [{ type: "value", scale: true }, { type: "value" }],
      series: [
        { name: data.metric, type: "line", data: data.trend.totals, showSymbol: false, itemStyle: { color: red } },
        { name: "+/-", type: "bar", yAxisIndex: 1, data: data.trend.changes, itemStyle: { color: "#f3b2bd" } }
      ]
    });
    window.addEventListener("resize", function () { line.resize(); });
  }
});
