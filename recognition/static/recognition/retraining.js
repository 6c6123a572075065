// Live progress of retraining runs: poll each unfinished run's JSON endpoint; reload once one finishes.
(function () {
  "use strict";
  const rows = Array.from(document.querySelectorAll("tr.run[data-finished='false']"));
  if (!rows.length) return;

  async function poll() {
    let anyFinished = false;
    for (const row of rows) {
      try {
        const response = await fetch(row.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) continue;
        const run = await response.json();
        row.querySelector("progress").value = run.progress;
        row.querySelector(".run-message").textContent = run.message;
        const status = row.querySelector(".run-status");
        status.textContent = run.status_display;
        status.className = `run-status status-${run.status}`;
        anyFinished = anyFinished || run.finished;
      } catch (error) {
        // The server may be restarting; keep polling.
      }
    }
    if (anyFinished) { window.location.reload(); return; }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
