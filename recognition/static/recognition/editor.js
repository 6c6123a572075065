// Template editor: draw field boxes on the blank form, move and resize them, set name, kind and cells,
// save as format-1 JSON.
(function () {
  "use strict";
  const definition = JSON.parse(document.getElementById("template-definition").textContent);
  const canvas = document.getElementById("editor-canvas");
  const context = canvas.getContext("2d");
  const tableBody = document.querySelector("#field-table tbody");
  const statusText = document.getElementById("save-status");
  const kinds = JSON.parse(document.getElementById("field-kinds").textContent);
  const image = new Image();
  let fields = definition.fields.map((field) => ({ ...field, box: field.box.slice() }));
  let selected = -1;
  let dragStart = null;
  let dragBox = null;
  // Moving or resizing a field: which one, how ("move" or the edges held: "n", "se", ...), from where.
  let editing = null;
  const MIN_SIDE = 6;
  const CURSORS = { move: "move", n: "ns-resize", s: "ns-resize", e: "ew-resize", w: "ew-resize",
    ne: "nesw-resize", sw: "nesw-resize", nw: "nwse-resize", se: "nwse-resize" };

  // How close to an edge (in image pixels) grabs it for resizing.
  function handleSize() { return Math.max(8, canvas.width / 150); }

  // The field under a point and what grabbing it there does; the selected field wins, then the topmost.
  function hitTest(x, y) {
    const handle = handleSize();
    const order = fields.map((_, index) => index).reverse();
    if (selected >= 0) order.unshift(selected);
    for (const index of order) {
      const [fx, fy, width, height] = fields[index].box;
      if (x < fx - handle || x > fx + width + handle || y < fy - handle || y > fy + height + handle) continue;
      const vertical = Math.abs(y - fy) <= handle ? "n" : Math.abs(y - (fy + height)) <= handle ? "s" : "";
      const horizontal = Math.abs(x - fx) <= handle ? "w" : Math.abs(x - (fx + width)) <= handle ? "e" : "";
      const inside = x >= fx && x <= fx + width && y >= fy && y <= fy + height;
      const mode = vertical + horizontal || (inside ? "move" : "");
      if (mode) return { index, mode };
    }
    return null;
  }

  // The box after dragging by (dx, dy) in the given mode, kept on the image and at least MIN_SIDE wide.
  function editedBox(box, mode, dx, dy) {
    let [left, top, right, bottom] = [box[0], box[1], box[0] + box[2], box[1] + box[3]];
    if (mode === "move") {
      const moveX = Math.min(Math.max(dx, -left), canvas.width - right);
      const moveY = Math.min(Math.max(dy, -top), canvas.height - bottom);
      return [left + moveX, top + moveY, box[2], box[3]];
    }
    if (mode.includes("w")) left = Math.min(Math.max(0, left + dx), right - MIN_SIDE);
    if (mode.includes("e")) right = Math.max(Math.min(canvas.width, right + dx), left + MIN_SIDE);
    if (mode.includes("n")) top = Math.min(Math.max(0, top + dy), bottom - MIN_SIDE);
    if (mode.includes("s")) bottom = Math.max(Math.min(canvas.height, bottom + dy), top + MIN_SIDE);
    return [left, top, right - left, bottom - top];
  }

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
      if (index === selected) {
        // Corner handles say the selected box can be resized there (and moved from inside).
        const size = handleSize();
        [[x, y], [x + width, y], [x, y + height], [x + width, y + height]].forEach(([cornerX, cornerY]) => {
          context.fillRect(cornerX - size / 2, cornerY - size / 2, size, size);
        });
      }
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
    const hit = hitTest(x, y);
    if (hit) {
      selected = hit.index;
      editing = { ...hit, start: [x, y], box: fields[hit.index].box.slice() };
      draw(); highlight();
      return;
    }
    dragStart = [x, y];
  });
  canvas.addEventListener("mousemove", (event) => {
    const [x, y] = imagePoint(event);
    if (editing) {
      fields[editing.index].box = editedBox(editing.box, editing.mode, x - editing.start[0], y - editing.start[1]);
      draw();
      return;
    }
    if (!dragStart) {
      const hit = hitTest(x, y);
      canvas.style.cursor = hit ? CURSORS[hit.mode] : "crosshair";
      return;
    }
    dragBox = [Math.min(x, dragStart[0]), Math.min(y, dragStart[1]), Math.abs(x - dragStart[0]), Math.abs(y - dragStart[1])];
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (editing) { editing = null; draw(); return; }
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
  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  document.addEventListener("keydown", (event) => {
    if (selected < 0 || document.activeElement !== document.body) return;
    if (event.key === "Delete") {
      fields.splice(selected, 1); selected = -1; renderTable(); draw();
    } else if (ARROWS[event.key]) {
      // Arrows move the selected box a pixel (Shift: ten); with Alt they resize it from its far edges.
      event.preventDefault();
      const step = event.shiftKey ? 10 : 1;
      const [dx, dy] = ARROWS[event.key].map((value) => value * step);
      fields[selected].box = editedBox(fields[selected].box, event.altKey ? "se" : "move", dx, dy);
      draw();
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
    const response = await fetch(canvas.dataset.saveUrl, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
    });
    const answer = await response.json();
    statusText.textContent = response.ok ? "Saved." : answer.detail;
    statusText.className = response.ok ? "ok" : "bad";
  });

  image.onload = () => { canvas.width = image.naturalWidth; canvas.height = image.naturalHeight; renderTable(); draw(); };
  image.src = canvas.dataset.imageUrl;
})();
