// Keyboard-first review: Enter saves the typed text (the form's default), Ctrl+Enter accepts the field
// as read, Page Down skips it, Page Up goes back. Tab is left to the browser: it only moves the focus,
// so no habit of the hand accepts a wrong reading.
(function () {
  "use strict";
  const form = document.getElementById("review-form");
  const input = document.getElementById("review-text");
  const action = document.getElementById("review-action");
  if (!form || !input) return;
  input.focus();
  input.select();
  let sent = false;
  form.addEventListener("submit", (event) => {
    if (sent) { event.preventDefault(); return; }  // one save per field, even if Enter repeats
    sent = true;
  });

  function follow(id) {
    const link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      action.value = "accept";
      document.getElementById("accept-button").removeAttribute("name");
      form.requestSubmit();
    } else if (event.key === "PageDown") {
      event.preventDefault();
      follow("skip-button");
    } else if (event.key === "PageUp") {
      event.preventDefault();
      follow("back-button");
    }
  });
})();
