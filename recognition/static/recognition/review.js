// Keyboard-first review: Enter saves the typed text (the form's default), Tab accepts the field as read.
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
  input.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey) {
      event.preventDefault();
      action.value = "accept";
      document.getElementById("accept-button").removeAttribute("name");
      form.requestSubmit();
    }
  });
})();
