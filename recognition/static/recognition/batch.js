// Live progress of an upload batch: poll its JSON until every document is read, updating each row.
(function () {
  "use strict";
  const root = document.getElementById("batch-root");
  if (!root || root.dataset.finished === "true") return;
  const bar = document.getElementById("batch-progress-bar");
  const text = document.getElementById("batch-progress-text");
  const note = document.getElementById("batch-note");

  async function poll() {
    try {
      const response = await fetch(root.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const progress = await response.json();
        bar.max = progress.pages_total;
        bar.value = progress.pages_finished;
        text.textContent = `${progress.documents_finished} of ${progress.documents_total} documents read ` +
          `(${progress.pages_finished} of ${progress.pages_total} pages)`;
        note.textContent = progress.note; note.hidden = !progress.note;
        for (const entry of progress.documents) {
          const row = root.querySelector(`tr[data-document="${entry.id}"]`);
          if (!row) continue;
          row.querySelector(".document-pages").textContent = `${entry.pages_finished} of ${entry.pages_total}`;
          const status = row.querySelector(".document-status");
          status.textContent = entry.status; status.className = `document-status status-${entry.status}`;
        }
        if (progress.finished) return;
      }
    } catch (error) {
      // The server may be restarting; keep polling.
    }
    window.setTimeout(poll, 700);
  }
  window.setTimeout(poll, 300);
})();
