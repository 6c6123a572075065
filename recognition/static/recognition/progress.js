// Live progress of a document: poll its small JSON endpoint until every page is read, then show the results.
(function () {
  "use strict";
  const root = document.getElementById("document-root");
  if (!root || root.dataset.finished === "true") return;
  const url = root.dataset.progressUrl;
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const status = document.getElementById("document-status");

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const progress = await response.json();
        bar.max = progress.pages_total;
        bar.value = progress.pages_finished;
        text.textContent = `${progress.pages_finished} of ${progress.pages_total} pages read`;
        const note = document.getElementById("document-note");
        if (note) { note.textContent = progress.note; note.hidden = !progress.note; }
        for (const page of progress.pages) {
          const label = document.querySelector(`#page-${page.number} .page-status`);
          if (label) { label.textContent = page.status; label.className = `page-status status-${page.status}`; }
        }
        if (progress.finished) {
          status.textContent = progress.status;
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // The server may be restarting; keep polling.
    }
    window.setTimeout(poll, 500);
  }
  window.setTimeout(poll, 300);
})();
