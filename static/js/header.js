// On the pages that call the API (Documents, API explorer): when a call finds that the
// session has ended (the app's 401 carries login_url), the header stops offering what
// needs a login (Log out, the logged-in pages) and offers Log in instead, so the page
// never says "not logged in" beside a Log out button.
(function () {
  "use strict";
  window.pageroLoggedOut = function (loginUrl) {
    var nav = document.querySelector("header.topbar nav");
    if (!nav || nav.getAttribute("data-logged-in") !== "true") { return; }
    nav.querySelectorAll("[data-needs-login]").forEach(function (e) { e.remove(); });
    var login = document.createElement("a");
    login.href = loginUrl || "/login";
    login.textContent = "Log in";
    nav.appendChild(login);
    nav.setAttribute("data-logged-in", "false");
  };
})();
