// Lists the user's documents through the backend-for-frontend proxy.
// The browser never holds a token: it calls /api-proxy with its session cookie
// and the server adds "Authorization: Bearer ..." on the way to Pagero.
(function () {
  "use strict";
  var form = document.getElementById("documents-query");
  var status = document.getElementById("documents-status");
  var table = document.getElementById("documents-table");
  var tbody = table.querySelector("tbody");

  function cell(text, className) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (className) { td.className = className; }
    return td;
  }

  function showError(message, loginUrl) {
    table.hidden = true;
    status.className = "status-error";
    status.textContent = message + " ";
    if (loginUrl) {
      var a = document.createElement("a");
      a.href = loginUrl;
      a.textContent = "Log in again";
      status.appendChild(a);
    }
  }

  function load() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value) { params.set(key, value); } });
    status.className = "";
    status.textContent = "Loading…";
    var started = performance.now();
    fetch("/api-proxy/document/v1/documents?" + params.toString(), {
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { response: response, body: body };
      });
    }).then(function (result) {
      var ms = Math.round(performance.now() - started);
      var r = result.response, body = result.body;
      if (r.status === 401) {
        showError(body.detail || "You are not logged in.", body.login_url || "/login");
        if (body.login_url && window.pageroLoggedOut) { window.pageroLoggedOut(body.login_url); }
        return;
      }
      if (!r.ok) {
        showError("The API answered HTTP " + r.status + ": " +
          (body.detail || body.message || body.error_description || body.error || r.statusText));
        return;
      }
      tbody.textContent = "";
      (body.items || []).forEach(function (doc) {
        var tr = document.createElement("tr");
        tr.appendChild(cell(doc.documentNumber, "nowrap"));
        tr.appendChild(cell(doc.documentType));
        tr.appendChild(cell(doc.direction));
        tr.appendChild(cell(doc.issueDate, "nowrap"));
        tr.appendChild(cell(doc.direction === "inbound" ? doc.senderName : doc.receiverName));
        var amount = doc.totalAmount != null ? Number(doc.totalAmount).toFixed(2) : "";
        tr.appendChild(cell(amount + " " + (doc.currency || ""), "num nowrap"));
        tr.appendChild(cell(doc.status));
        tbody.appendChild(tr);
      });
      var meta = body.meta || {};
      table.hidden = false;
      status.textContent = "HTTP " + r.status + " in " + ms + " ms · showing " +
        (meta.count != null ? meta.count : (body.items || []).length) + " of " +
        (meta.total != null ? meta.total : "?") + " documents.";
    }).catch(function () {
      showError("The request failed: the app could not be reached.");
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();
