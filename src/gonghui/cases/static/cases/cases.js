// The case figures page: one bar chart of cases filed by category (ECharts, served locally).
document.addEventListener("DOMContentLoaded", function () {
  var node = document.getElementById("category-data");
  var target = document.getElementById("category-chart");
  if (!node || !target || !window.echarts) { return; }
  var data = JSON.parse(node.textContent);
  var chart = echarts.init(target);
  chart.setOption({
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: data.names, axisLabel: { width: 120, overflow: "truncate" } },
    tooltip: { trigger: "axis" },
    series: [{ type: "bar", data: data.values, itemStyle: { color: "#c8102e" } }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
