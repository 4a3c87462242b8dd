// Counts down the access token's remaining lifetime on the profile page.
(function () {
  "use strict";
  var el = document.getElementById("expiry");
  if (!el || el.dataset.expiresIn === "") { return; }
  var deadline = Date.now() + Number(el.dataset.expiresIn) * 1000;
  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    el.textContent = left > 0 ? left + " s" : "expired (the next API call refreshes it)";
    if (left > 0) { window.setTimeout(tick, 1000); }
  }
  tick();
})();
