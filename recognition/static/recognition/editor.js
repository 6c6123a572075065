// Template editor: draw field boxes on the blank form, set name, kind and cells, save as format-1 JSON.
(function () {
  "use strict";
  const definition = JSON.parse(document.getElementById("template-definition").textContent);
  const canvas = document.getElementById("editor-canvas");
  const context = canvas.getContext("2d");
  const tableBody = document.querySelector("#field-table tbody");
  const statusText = document.getElementById("save-status");
  const kinds = ["digits", "letters", "alnum", "date", "amount"];
  const image = new Image();
  let fields = definition.fields.map((field) => ({ ...field, box: field.box.slice() }));
  let selected = -1;
  let dragStart = null;
  let dragBox = null;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Mouse position in template (image) pixels, whatever size the canvas is shown at.
  function imagePoint(event) {
    const rect = canvas.getBoundingClientRect();
    return [
      Math.round(((event.clientX - rect.left) * canvas.width) / rect.width),
      Math.round(((event.clientY - rect.top) * canvas.height) / rect.height),
    ];
  }

  function draw() {
    context.drawImage(image, 0, 0);
    context.lineWidth = Math.max(2, canvas.width / 600);
    context.font = `${Math.max(14, canvas.width / 70)}px sans-serif`;
    fields.forEach((field, index) => {
      const [x, y, width, height] = field.box;
      context.strokeStyle = index === selected ? "#d0021b" : "#2456c7";
      context.strokeRect(x, y, width, height);
      if (field.cells) {
        for (let cell = 1; cell < field.cells; cell += 1) {
          const cellX = x + (width * cell) / field.cells;
          context.beginPath(); context.moveTo(cellX, y); context.lineTo(cellX, y + height); context.stroke();
        }
      }
      context.fillStyle = context.strokeStyle;
      context.fillText(field.name, x, Math.max(12, y - 4));
    });
    if (dragBox) { context.strokeStyle = "#f5a623"; context.strokeRect(...dragBox); }
  }

  function renderTable() {
    tableBody.replaceChildren();
    fields.forEach((field, index) => {
      const row = document.createElement("tr");
      if (index === selected) row.className = "selected";
      const name = Object.assign(document.createElement("input"), { value: field.name });
      name.addEventListener("input", () => { field.name = name.value; draw(); });
      const kind = document.createElement("select");
      kinds.forEach((value) => kind.add(new Option(value, value, false, value === field.kind)));
      kind.addEventListener("change", () => { field.kind = kind.value; });
      const cells = Object.assign(document.createElement("input"), { type: "number", min: 1, value: field.cells ?? "" });
      cells.placeholder = "free";
      cells.addEventListener("input", () => { field.cells = cells.value ? parseInt(cells.value, 10) : null; draw(); });
      const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "×" });
      remove.addEventListener("click", () => { fields.splice(index, 1); selected = -1; renderTable(); draw(); });
      row.addEventListener("click", () => { selected = index; draw(); highlight(); });
      [name, kind, cells, remove].forEach((element) => {
        const cell = document.createElement("td"); cell.appendChild(element); row.appendChild(cell);
      });
      tableBody.appendChild(row);
    });
  }

  function highlight() {
    [...tableBody.children].forEach((row, index) => row.classList.toggle("selected", index === selected));
  }

  canvas.addEventListener("mousedown", (event) => {
    const [x, y] = imagePoint(event);
    const hit = fields.findIndex((field) => {
      const [fx, fy, width, height] = field.box;
      return x >= fx && x <= fx + width && y >= fy && y <= fy + height;
    });
    if (hit >= 0) { selected = hit; draw(); highlight(); return; }
    dragStart = [x, y];
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!dragStart) return;
    const [x, y] = imagePoint(event);
    dragBox = [Math.min(x, dragStart[0]), Math.min(y, dragStart[1]), Math.abs(x - dragStart[0]), Math.abs(y - dragStart[1])];
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (dragBox && dragBox[2] > 5 && dragBox[3] > 5) {
      const box = [Math.max(0, dragBox[0]), Math.max(0, dragBox[1]), dragBox[2], dragBox[3]];
      box[2] = Math.min(box[2], canvas.width - box[0]);
      box[3] = Math.min(box[3], canvas.height - box[1]);
      fields.push({ name: `field_${fields.length + 1}`, kind: "digits", box, cells: null });
      selected = fields.length - 1;
      renderTable();
    }
    dragStart = null; dragBox = null; draw();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Delete" && selected >= 0 && document.activeElement === document.body) {
      fields.splice(selected, 1); selected = -1; renderTable(); draw();
    }
  });

  document.getElementById("import-json").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      const imported = JSON.parse(await file.text());
      if (!Array.isArray(imported.fields)) throw new Error("no fields list");
      fields = imported.fields.map((field) => ({ ...field, box: field.box.slice() }));
      selected = -1; renderTable(); draw();
      statusText.textContent = `Imported ${fields.length} fields; press Save to keep them.`;
    } catch (error) {
      statusText.textContent = `Not a template JSON: ${error.message}`;
    }
  });

  document.getElementById("save-template").addEventListener("click", async () => {
    const body = new FormData();
    body.append("definition", JSON.stringify({ ...definition, fields }));
    const response = await fetch(window.TEMPLATE_SAVE_URL, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
    });
    const answer = await response.json();
    statusText.textContent = response.ok ? "Saved." : answer.detail;
    statusText.className = response.ok ? "ok" : "bad";
  });

  image.onload = () => { canvas.width = image.naturalWidth; canvas.height = image.naturalHeight; renderTable(); draw(); };
  image.src = window.TEMPLATE_IMAGE_URL;
})();
