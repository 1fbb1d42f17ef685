// Skill pages: folder uploads keep their paths, code is highlighted, the editor shows a
// highlighted preview as you type, and "Test in sandbox" streams a run over a websocket.
(function () {
  "use strict";

  function highlightAll(root) {
    if (!window.hljs) return;
    root.querySelectorAll("code[data-highlight]").forEach(function (code) {
      const match = /language-(\S+)/.exec(code.className);
      if (match && window.hljs.getLanguage(match[1])) window.hljs.highlightElement(code);
    });
  }

  // What the server ignores anyway (skills/bundle.py): not worth sending, and a .git
  // folder alone can hold more files than a request may carry.
  const IGNORED = ["__MACOSX", ".git", "__pycache__", ".DS_Store"];

  function kept(file) {
    const path = file.webkitRelativePath || file.name;
    return !path.split("/").some(function (part) { return IGNORED.includes(part); });
  }

  // Browsers send only each file's own name: the paths go alongside, in order.
  function setUpFolderForm(form) {
    const input = form.querySelector("[data-skill-folder]");
    const paths = form.querySelector("[data-skill-paths]");
    const problem = form.querySelector("[data-skill-folder-problem]");
    const most = Number(form.dataset.maxFiles);
    function fill() {
      const files = Array.from(input.files).filter(kept);
      if (files.length !== input.files.length) {
        const chosen = new DataTransfer();
        files.forEach(function (f) { chosen.items.add(f); });
        input.files = chosen.files;
      }
      paths.value = JSON.stringify(files.map(function (f) {
        return f.webkitRelativePath || f.name;
      }));
      const tooMany = most && files.length > most;
      problem.textContent = tooMany
        ? "The folder has " + files.length + " files; a skill holds at most " + most + "."
        : "";
      problem.hidden = !tooMany;
      return !tooMany;
    }
    input.addEventListener("change", fill);
    form.addEventListener("submit", function (event) {
      if (!fill()) event.preventDefault();
    });
  }

  function setUpEditor(textarea) {
    const preview = document.querySelector("[data-editor-preview]");
    if (!preview) return;
    const language = (/language-(\S+)/.exec(preview.className) || [])[1];
    function render() {
      preview.textContent = textarea.value;  // text, never HTML: highlight.js escapes it
      delete preview.dataset.highlighted;
      if (window.hljs && language && window.hljs.getLanguage(language)) {
        window.hljs.highlightElement(preview);
      }
    }
    let pending = null;
    textarea.addEventListener("input", function () {
      clearTimeout(pending);
      pending = setTimeout(render, 150);
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || event.shiftKey) return;
      event.preventDefault();  // indent instead of leaving the field
      const start = textarea.selectionStart;
      textarea.setRangeText("    ", start, textarea.selectionEnd, "end");
    });
    window.addEventListener("load", render);
    render();
  }

  function setUpTestRun(panel) {
    const button = panel.querySelector("[data-skill-test-run]");
    const select = panel.querySelector("[data-skill-test-path]");
    const output = panel.querySelector("[data-skill-test-output]");
    const status = panel.querySelector("[data-skill-test-status]");
    if (!button) return;
    let socket = null;
    let started = 0;
    let timer = null;

    function append(kind, text) {
      const last = output.lastElementChild;
      if (last && last.dataset.kind === kind && last.tagName === "PRE") {
        last.textContent += text;
      } else {
        const pre = document.createElement("pre");
        pre.className = "test-" + kind;
        pre.dataset.kind = kind;
        pre.textContent = text;
        output.appendChild(pre);
      }
    }
    function note(text, kind) {
      const p = document.createElement("p");
      p.className = "test-note " + (kind || "");
      p.textContent = text;
      output.appendChild(p);
    }
    function finish(text) {
      clearInterval(timer);
      status.textContent = text;
      button.disabled = false;
      if (socket) socket.close();
      socket = null;
    }
    function handle(event) {
      if (event.type === "stdout" || event.type === "stderr") append(event.type, event.text);
      else if (event.type === "display") {
        const img = document.createElement("img");
        img.alt = "Output image";
        img.src = "data:" + event.mime + ";base64," + event.data;
        output.appendChild(img);
      } else if (event.type === "notice") note(event.text);
      else if (event.type === "starting") note("Starting a sandbox for " + event.path + " (version " + event.version + ")…");
      else if (event.type === "refused") { note(event.message, "error"); finish("Not run"); }
      else if (event.type === "finished") {
        if (event.message) note(event.message);
        finish("Finished: " + event.status + " (" + (event.duration_ms / 1000).toFixed(1) + " s)");
      }
    }
    button.addEventListener("click", function () {
      output.textContent = "";
      button.disabled = true;
      started = Date.now();
      status.textContent = "Running…";
      timer = setInterval(function () {
        status.textContent = "Running… " + Math.round((Date.now() - started) / 1000) + " s";
      }, 1000);
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + panel.dataset.socket);
      socket.onopen = function () {
        socket.send(JSON.stringify({ type: "run", path: select.value, version: Number(panel.dataset.version) }));
      };
      socket.onmessage = function (message) { handle(JSON.parse(message.data)); };
      socket.onclose = function () { if (socket) finish("The connection closed."); };
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-skill-folder-form]").forEach(setUpFolderForm);
    document.querySelectorAll("textarea[data-editor]").forEach(setUpEditor);
    document.querySelectorAll("[data-skill-test]").forEach(setUpTestRun);
  });
  window.addEventListener("load", function () { highlightAll(document); });
})();
