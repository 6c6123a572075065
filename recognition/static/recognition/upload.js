// Drag and drop onto the upload form: dropped files go into the form's file input.
(function () {
  "use strict";
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("files");
  const list = document.getElementById("file-list");
  if (!zone || !input) return;

  function showFiles() {
    list.replaceChildren();
    for (const file of input.files) {
      const item = document.createElement("li");
      item.textContent = `${file.name} (${Math.ceil(file.size / 1024)} KB)`;
      list.appendChild(item);
    }
  }

  ["dragenter", "dragover"].forEach((name) =>
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("dragging"); }));
  ["dragleave", "drop"].forEach((name) =>
    zone.addEventListener(name, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const transfer = new DataTransfer();
    for (const file of input.files) transfer.items.add(file);
    for (const file of event.dataTransfer.files) transfer.items.add(file);
    input.files = transfer.files;
    showFiles();
  });
  input.addEventListener("change", showFiles);
})();
