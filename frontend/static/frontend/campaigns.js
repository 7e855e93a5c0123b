/* Campaign pages: ask before launching, stopping or retrying; on the form, show the
   period only for recurring campaigns; on a campaign's page, follow its active runs
   by polling their figures every 2 seconds until none is deciding or delivering. */
(function () {
  "use strict";

  // --- confirmations ---------------------------------------------------------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // --- the form: the period belongs to recurring campaigns only ------------------------------------------------
  var schedule = document.querySelectorAll("input[name=schedule]");
  if (schedule.length) {
    var every = document.getElementById("field-every_days");
    var note = document.getElementById("triggered-note");
    var sync = function () {
      var chosen = document.querySelector("input[name=schedule]:checked");
      var value = chosen ? chosen.value : "once";
      // A field with an error stays visible, so its message is never hidden.
      if (every) { every.hidden = value !== "recurring" && !every.classList.contains("has-error"); }
      if (note) { note.hidden = value !== "triggered"; }
    };
    schedule.forEach(function (input) { input.addEventListener("change", sync); });
    sync();
  }

  // --- a campaign's runs ---------------------------------------------------------------------------------------------
  var runs = document.getElementById("campaign-runs");
  if (!runs) { return; }
  var url = runs.getAttribute("data-poll-url");
  var counts = ["audience", "control", "left_out", "over_limit", "queued", "waiting"];
  var byStatus = ["sent", "blocked", "dead", "cancelled"];

  function pollStatus(message) {
    var el = runs.querySelector("[data-field='poll_status']");
    if (el) { el.textContent = message; }
  }

  function set(row, name, value) {
    var el = row.querySelector("[data-field='" + name + "']");
    if (el) { el.textContent = Number(value).toLocaleString("en-GB"); }
  }

  function render(run) {
    var row = runs.querySelector("tr[data-run='" + run.id + "']");
    if (!row) { return false; }
    row.setAttribute("data-status", run.status);
    var badge = row.querySelector("[data-field='status']");
    badge.textContent = run.status_label;
    badge.className = "badge badge--run-" + run.status;
    set(row, "decided", run.decided);
    set(row, "total", run.total);
    counts.forEach(function (name) { set(row, name, run[name]); });
    byStatus.forEach(function (name) { set(row, name, run.deliveries[name]); });
    var bar = row.querySelector(".progress");
    bar.classList.toggle("indeterminate", run.percent === null && run.active);
    bar.classList.toggle("done", run.status === "done");
    bar.classList.toggle("failed", run.status === "failed");
    bar.firstElementChild.style.width = run.percent === null ? "" : run.percent + "%";
    if (run.percent !== null) { bar.setAttribute("aria-valuenow", run.percent); }
    return true;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status >= 400 && response.status < 500) {
          pollStatus("Stopped updating (HTTP " + response.status + "); reload the page.");
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (data === null) { return; }
        var known = data.runs.every(render);
        var status = document.getElementById("campaign-status");
        if (!known || (status && status.getAttribute("data-status") !== data.status)) {
          window.location.reload();  // a new run, or the campaign itself changed: draw the page afresh
          return;
        }
        runs.setAttribute("data-active", data.active ? "true" : "false");
        if (data.active) {
          pollStatus("Updating as the run goes…");
          window.setTimeout(poll, 2000);
        } else {
          pollStatus("Run finished.");
        }
      })
      .catch(function () {
        pollStatus("Lost contact with the server; retrying.");
        window.setTimeout(poll, 2000);
      });
  }

  if (runs.getAttribute("data-active") === "true") { window.setTimeout(poll, 2000); }
}());
