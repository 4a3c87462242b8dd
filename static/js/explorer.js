// API explorer: sends any method and path through the backend-for-frontend proxy.
// No token ever reaches this page; the session cookie identifies the user and the
// server adds "Authorization: Bearer ..." on the way to Pagero.
(function () {
  "use strict";
  var form = document.getElementById("explorer");
  var method = document.getElementById("explorer-method");
  var path = document.getElementById("explorer-path");
  var body = document.getElementById("explorer-body");
  var result = document.getElementById("explorer-result");
  var status = document.getElementById("explorer-status");
  var output = document.getElementById("explorer-output");

  function explain(code, payload) {
    if (code === 401) {
      var link = document.createElement("a");
      link.href = (payload && payload.login_url) || "/login";
      link.textContent = "Log in again";
      status.appendChild(document.createTextNode(" Not logged in (or the login ended). "));
      status.appendChild(link);
      // The app's own 401 (not the API's, passed through) means the session has ended.
      if (payload && payload.login_url && window.pageroLoggedOut) {
        window.pageroLoggedOut(payload.login_url);
      }
    } else if (code === 403) {
      status.appendChild(document.createTextNode(" Forbidden: the API or the proxy refused this call."));
    } else if (code >= 500) {
      status.appendChild(document.createTextNode(" The server side failed; see the problem details below."));
    }
  }

  function send() {
    var verb = method.value;
    var init = { method: verb, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (verb !== "GET" && verb !== "HEAD") {
      init.headers["X-CSRF"] = "1";
      if (body.value.trim()) {
        try { JSON.parse(body.value); } catch (e) {
          result.hidden = false;
          status.className = "status-error";
          status.textContent = "The body is not valid JSON: " + e.message;
          output.textContent = "";
          return;
        }
        init.headers["Content-Type"] = "application/json";
        init.body = body.value;
      }
    }
    var started = performance.now();
    status.className = "";
    status.textContent = "Sending…";
    result.hidden = false;
    fetch("/api-proxy/" + path.value.replace(/^\/+/, ""), init).then(function (response) {
      return response.text().then(function (text) {
        var ms = Math.round(performance.now() - started);
        var payload = null;
        try { payload = text ? JSON.parse(text) : null; } catch (e) { payload = null; }
        status.className = response.ok ? "" : "status-error";
        status.textContent = verb + " → HTTP " + response.status + " " + response.statusText +
          " in " + ms + " ms";
        explain(response.status, payload);
        output.textContent = payload !== null ? JSON.stringify(payload, null, 2) : text;
      });
    }).catch(function () {
      status.className = "status-error";
      status.textContent = "The request failed: the app could not be reached.";
      output.textContent = "";
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); send(); });
  Array.prototype.forEach.call(document.querySelectorAll("[data-example]"), function (button) {
    button.addEventListener("click", function () {
      var parts = button.getAttribute("data-example").split(" ");
      method.value = parts[0];
      path.value = parts[1];
      send();
    });
  });
})();
