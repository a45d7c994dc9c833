// Learning pages: lines of a formset (course materials, drawing rules); the question form
// shows the answer fields of the chosen kind; the reading clock of a course item; the
// quiz's countdown, which hands the answers in when time is up. The server decides in
// every case (reading time, deadline): these only show it.
(function () {
  function clock(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  // Counts down from data-remaining (seconds, from the server's clock); calls done at 0.
  function countdown(element, done) {
    var remaining = Math.max(parseInt(element.dataset.remaining, 10) || 0, 0);
    var shown = element.querySelector(".clock");
    var end = Date.now() + remaining * 1000;
    function tick() {
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if (shown) { shown.textContent = clock(left); }
      element.classList.toggle("soon", left > 0 && left <= 60);
      if (left <= 0) { done(); return; }
      window.setTimeout(tick, 250);
    }
    tick();
  }

  // --- formsets: add a line ---------------------------------------------------------------
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
    var rows = formset.querySelectorAll(".forms fieldset");
    var first = rows[rows.length - 1].querySelector("select, input");
    if (first) { first.focus(); }
  });
  // Files are not taken in the rich text of an article (a PDF is a material of its own).
  document.addEventListener("trix-file-accept", function (event) { event.preventDefault(); });
  // Drawing rules: suggest the bank's tags.
  document.querySelectorAll("#quiz-form input[name$='-tag']").forEach(function (input) {
    input.setAttribute("list", "bank-tags");
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#add-rule")) { return; }
    document.querySelectorAll("#quiz-form input[name$='-tag']").forEach(function (input) {
      input.setAttribute("list", "bank-tags");
    });
  });

  // --- the question form: the answer fields of the kind -----------------------------------
  var kind = document.querySelector("#question-form select[name=kind]");
  function showKind() {
    document.querySelectorAll("#question-form [data-for]").forEach(function (part) {
      part.hidden = part.dataset.for.split(" ").indexOf(kind.value) < 0;
    });
  }
  if (kind) { kind.addEventListener("change", showKind); showKind(); }

  // --- a course item: the reading clock ---------------------------------------------------
  var reading = document.getElementById("reading-countdown");
  if (reading) {
    var button = document.getElementById("done");
    var waiting = reading.querySelector(".waiting");
    var ready = reading.querySelector(".ready");
    if (button && parseInt(reading.dataset.remaining, 10) > 0) { button.disabled = true; }
    countdown(reading, function () {
      if (button) { button.disabled = false; }
      if (waiting) { waiting.hidden = true; }
      if (ready) { ready.hidden = false; }
    });
  }

  // --- an attempt: the time left; at 0 the saved and typed answers are handed in --------
  var timer = document.getElementById("countdown");
  if (timer) {
    var form = document.getElementById(timer.dataset.form);
    var handedIn = false;
    if (form) { form.addEventListener("submit", function () { handedIn = true; }); }
    countdown(timer, function () {
      if (!form || handedIn) { return; }
      handedIn = true;
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    });
  }
})();
