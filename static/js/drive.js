// Drive uploads: one request per file so each file gets its own progress bar and result.
// Without JavaScript the same form posts all files at once and the page reloads.
(function () {
  "use strict";

  const form = document.querySelector("[data-drive-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector("[data-drop-zone]");
  const list = document.querySelector("[data-upload-list]");
  const maxBytes = Number(form.dataset.maxBytes);
  // One upload at a time, across batches: bandwidth is shared anyway, and the embedded
  // SQLite mode copes best with one writer.
  let queueTail = Promise.resolve();
  form.classList.add("is-enhanced");

  function addItem(batch, file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    item.dataset.testid = "upload-item";
    item.dataset.state = "queued";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const status = document.createElement("span");
    status.className = "upload-status";
    status.dataset.testid = "upload-status";
    status.textContent = "Waiting…";
    const bar = document.createElement("div");
    bar.className = "progress";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", "Upload of " + file.name);
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.appendChild(document.createElement("span"));
    item.append(name, status, bar);
    batch.append(item);
    return { file, item, status, bar };
  }

  function setProgress(entry, fraction) {
    const percent = Math.round(fraction * 100);
    entry.bar.firstChild.style.width = percent + "%";
    entry.bar.setAttribute("aria-valuenow", String(percent));
    entry.status.textContent = percent < 100 ? "Uploading… " + percent + "%" : "Checking…";
  }

  function settle(entry, state, text) {
    if (state === "done") setProgress(entry, 1);
    entry.item.dataset.state = state;
    entry.status.textContent = text;
  }

  function describe(result) {
    if (!result.ok) return result.error;
    const verb = result.replaced ? "Replaced" : "Uploaded";
    return verb + " · " + result.file.size_display;
  }

  function send(entry, replace) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.elements.csrfmiddlewaretoken.value);
      data.append("folder", form.elements.folder.value);
      if (replace) data.append("replace", "1");
      data.append("files", entry.file, entry.file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) setProgress(entry, event.loaded / event.total);
      };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (error) { body = null; }
        const result = body && body.results && body.results[0];
        if (result) settle(entry, result.ok ? "done" : "error", describe(result));
        else settle(entry, "error", (body && body.error) ||
          entry.file.name + ": the server refused the upload (HTTP " + xhr.status + "). Try again.");
        resolve(Boolean(result && result.ok));
      };
      xhr.onerror = () => {
        settle(entry, "error", entry.file.name + ": the upload was interrupted. Try again.");
        resolve(false);
      };
      entry.item.dataset.state = "uploading";
      setProgress(entry, 0);
      xhr.send(data);
    });
  }

  function upload(entry, replace) {
    // Same limit as the server, checked before sending megabytes for nothing.
    if (entry.file.size > maxBytes) {
      settle(entry, "error", entry.file.name + ": the file is larger than the " +
        form.dataset.limitText + " limit.");
      return Promise.resolve(false);
    }
    return send(entry, replace);
  }

  async function refreshListing() {
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("[data-drive-listing]");
    const current = document.querySelector("[data-drive-listing]");
    if (fresh && current) current.replaceWith(fresh);
  }

  function enqueue(task) {
    const run = queueTail.then(task);
    queueTail = run.catch(() => undefined);  // A failed task must not stall the ones after it.
    return run;
  }

  async function uploadAll(files) {
    if (!files.length) return;
    const replace = form.elements.replace.checked;
    // Newest batch on top, files of one batch in the order they were chosen.
    const batch = document.createDocumentFragment();
    const entries = files.map((file) => addItem(batch, file));
    list.prepend(batch);
    const stored = await Promise.all(entries.map((entry) => enqueue(() => upload(entry, replace))));
    if (stored.some(Boolean)) await enqueue(refreshListing);
  }

  function takeFiles(fileList) {
    const files = Array.from(fileList || []);
    input.value = "";  // Lets the same file be chosen again (after ticking "Replace").
    uploadAll(files);
  }

  input.addEventListener("change", () => takeFiles(input.files));
  // Files chosen while this deferred script was still loading fired no event we heard.
  if (input.files && input.files.length) takeFiles(input.files);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    takeFiles(input.files);
  });

  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("is-over");
    })
  );
  ["dragleave", "drop"].forEach((type) =>
    zone.addEventListener(type, () => zone.classList.remove("is-over"))
  );
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    takeFiles(event.dataTransfer.files);
  });
})();
