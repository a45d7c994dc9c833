// The QR screen at the venue: fetch a fresh check-in code every few seconds. The QR code
// is drawn by the server (an inline SVG); when the network is down the last one stays
// until it would have expired, then it is dimmed so nobody scans a dead code.
(function () {
  var screen = document.getElementById("screen");
  if (!screen) { return; }
  var url = screen.dataset.tokenUrl;
  var rotate = Math.max(parseInt(screen.dataset.rotate, 10) || 20, 5) * 1000;
  var qr = document.getElementById("qr");
  var link = document.getElementById("scan-link");
  var code = document.getElementById("code");
  var count = document.getElementById("checked-in-count");
  var lastOk = Date.now();

  function apply(state) {
    qr.innerHTML = state.svg;
    qr.dataset.scanUrl = state.url;
    qr.classList.remove("stale");
    link.href = state.url;
    link.textContent = state.url;
    code.textContent = state.code;
    count.textContent = state.checked_in;
    lastOk = Date.now();
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(apply)
      .catch(function () {
        if (Date.now() - lastOk > rotate * 4) { qr.classList.add("stale"); }
      });
  }

  window.setInterval(refresh, rotate);
})();
