// Notice forms: add a line to a formset (requirements); keep files out of the rich text
// (attachments are uploaded as files of the notice, where their type and size are checked).
document.addEventListener("click", function (event) {
  var button = event.target.closest(".formset .add-form");
  if (!button) { return; }
  var formset = button.closest(".formset");
  var prefix = formset.dataset.formset;
  var total = formset.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
  var template = formset.querySelector("template");
  var html = template.innerHTML.replace(/__prefix__/g, total.value);
  formset.querySelector(".forms").insertAdjacentHTML("beforeend", html);
  total.value = parseInt(total.value, 10) + 1;
  var added = formset.querySelectorAll(".forms .req");
  var last = added[added.length - 1];
  var first = last && last.querySelector("input[type=text]");
  if (first) { first.focus(); }
});
document.addEventListener("trix-file-accept", function (event) { event.preventDefault(); });
// Show the number and the kind of union only for targets that use them.
function showTargetFields(row) {
  var measure = row.querySelector("select[name$='-measure']");
  if (!measure) { return; }
  var threshold = row.querySelector("input[name$='-threshold']");
  var unit = row.querySelector("select[name$='-unit_kind']");
  if (threshold) { threshold.closest(".field").hidden = measure.value === "none"; }
  if (unit) { unit.closest(".field").hidden = measure.value !== "per_unit"; }
}
document.addEventListener("change", function (event) {
  if (event.target.matches("select[name$='-measure']")) { showTargetFields(event.target.closest(".req")); }
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".formset .req").forEach(showTargetFields);
});
document.addEventListener("click", function (event) {
  if (event.target.closest(".formset .add-form")) {
    document.querySelectorAll(".formset .req").forEach(showTargetFields);
  }
});
