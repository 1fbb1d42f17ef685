// The chat playground: one websocket per conversation (protocol: docs/agents.md). Events
// are rendered as the same cells the server renders for the recorded history, so a reload
// shows the same thing. Everything that came from a user, a model or code is set with
// textContent (or shown in <img> / a sandboxed iframe), never parsed as HTML.
(function () {
  "use strict";

  const stateElement = document.getElementById("playground-state");
  const transcript = document.querySelector("[data-transcript]");
  const form = document.querySelector("[data-composer]");
  if (!stateElement || !transcript || !form) return;

  const state = JSON.parse(stateElement.textContent);
  const input = form.querySelector("textarea");
  const sendButton = form.querySelector("[data-send]");
  const stopButton = form.querySelector("[data-stop]");
  const runningLine = form.querySelector("[data-running]");
  const meterLine = form.querySelector("[data-meter]");
  const connectionLine = form.querySelector("[data-connection]");
  const errors = document.querySelector("[data-errors]");

  const IMAGE_MIMES = ["image/png", "image/jpeg", "image/svg+xml"];
  const BAD_TOOL_STATUSES = ["error", "timeout", "killed", "cancelled"];
  const SANDBOX_NOTE =
    "New turn: a fresh sandbox; variables and files from earlier turns are gone.";
  // HTML shown by code is posted to the server's sealed frame, whose own policy lets it
  // load nothing (the sandbox attribute stops scripts, forms and navigation, not loads),
  // and keeps its inline styles, which this page's strict policy would block in srcdoc.
  const htmlFrameForm = document.querySelector("[data-html-frame]");
  let htmlFrames = 0;
  // Notices shown in one cell; more are counted, not shown (hostile code can cause many).
  const MAX_NOTICES = 30;
  // Past these sizes code is shown plain (highlighting it would hold the page for
  // seconds) and messages and code are folded behind a "Show all" button.
  const HIGHLIGHT_MAX_CHARS = 20000;
  const COLLAPSE_CHARS = 3000;
  const counter = form.querySelector("[data-counter]");
  const maxChars = Number(state.max_message_chars) || Infinity;

  let socket = null;
  let connected = false;
  let everOpened = false;
  let refused = false;
  let attempts = 0;
  let pending = false;          // A message was sent; its turn_started has not arrived yet.
  let runningTurn = null;       // The id of the turn that runs, if any.
  let runningSince = 0;
  let ticker = null;
  let buffered = null;          // Events that arrive while the transcript is being refreshed.
  // Set when a refresh kept the live transcript of a running turn: output printed while
  // events were lost is only recorded once its call ends, so the ending reloads it.
  let missedOutput = false;
  // The running turn's active time: the server's figure (usage events) plus, while a tool
  // call runs, the time since it started, so the meter moves between events.
  const meter = { activeMs: 0, rate: null, toolSince: 0 };

  // --- Small DOM helpers ---------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function testid(node, name) {
    node.dataset.testid = name;
    return node;
  }

  function formatDuration(ms) {
    return typeof ms === "number" ? (ms / 1000).toFixed(1) + " s" : "";
  }

  function nearBottom() {
    const doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - 120;
  }

  function scrollToBottom() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function highlight(root) {
    if (!window.hljs) return;
    root.querySelectorAll("pre.tool-code code[data-lang]").forEach((code) => {
      const language = code.dataset.lang;
      if (code.dataset.highlighted || !language || !window.hljs.getLanguage(language)) return;
      if (code.textContent.length > HIGHLIGHT_MAX_CHARS) {
        code.dataset.highlighted = "skipped";
        return;
      }
      code.classList.add("language-" + language);
      window.hljs.highlightElement(code);  // Reads textContent; its output is escaped.
    });
  }

  function collapseLong(root) {
    root.querySelectorAll(".bubble, pre.tool-code").forEach((node) => {
      const length = node.textContent.length;
      if (node.dataset.collapsible || length <= COLLAPSE_CHARS) return;
      node.dataset.collapsible = "yes";
      node.classList.add("is-collapsed");
      const show = element(
        "button", "button small secondary show-all",
        "Show all " + length.toLocaleString("en-US") + " characters"
      );
      show.type = "button";
      show.addEventListener("click", () => {
        node.classList.remove("is-collapsed");
        show.remove();
      });
      node.after(show);
    });
  }

  // --- Turns and cells (the same markup as templates/agents/playground.html) ------------

  function findTurn(id) {
    return transcript.querySelector('.turn[data-turn="' + CSS.escape(String(id)) + '"]');
  }

  function turnFor(id, userMessage) {
    const existing = findTurn(id);
    if (existing) return existing;
    const empty = transcript.querySelector("[data-testid=transcript-empty]");
    if (empty) empty.remove();
    const turn = testid(element("section", "turn"), "turn");
    turn.dataset.turn = id;
    if (state.sandbox_note) turn.append(testid(element("p", "turn-note", SANDBOX_NOTE), "turn-note"));
    if (userMessage !== undefined) {
      turn.append(testid(element("div", "bubble user", userMessage), "user-message"));
    }
    const status = testid(element("p", "turn-status"), "turn-status");
    status.dataset.status = "running";
    turn.append(element("div", "turn-body"), status);
    transcript.append(turn);
    collapseLong(turn);
    return turn;
  }

  function appendText(turn, text) {
    const body = turn.querySelector(".turn-body");
    const last = body.lastElementChild;
    if (last && last.matches(".bubble.assistant")) {
      last.append(text);
      return;
    }
    // A new bubble starts at its first visible line (as the server renders it).
    const start = text.replace(/^\s*\n/, "");
    if (!start.trim()) return;
    body.append(testid(element("div", "bubble assistant", start), "assistant-text"));
  }

  function findCell(turn, call) {
    return turn.querySelector('.tool-cell[data-call="' + CSS.escape(String(call)) + '"]');
  }

  function cellFor(turn, event) {
    const existing = findCell(turn, event.call);
    if (existing) return existing;
    const cell = testid(element("div", "tool-cell"), "tool-cell");
    cell.dataset.call = event.call;
    cell.dataset.status = "running";
    const head = element("div", "tool-head");
    head.append(
      element("span", "tool-title", event.title || event.name || "Tool"),
      testid(element("span", "tool-status", "running…"), "tool-status")
    );
    cell.append(head);
    if (event.code) {
      const pre = element("pre", "tool-code");
      const code = element("code", "", event.code);
      code.dataset.lang = event.language || "";
      pre.append(code);
      cell.append(pre);
      highlight(cell);
      collapseLong(cell);
    }
    cell.append(testid(element("div", "tool-output"), "tool-output"));
    turn.querySelector(".turn-body").append(cell);
    return cell;
  }

  function cellIsFinished(cell) {
    return cell.dataset.status && cell.dataset.status !== "running";
  }

  function appendStream(cell, stream, text) {
    const output = cell.querySelector(".tool-output");
    const last = output.lastElementChild;
    if (last && last.matches("pre.out-" + stream)) last.append(text);
    else output.append(element("pre", "out out-" + stream, text));
  }

  function appendImage(cell, mime, data) {
    const image = testid(element("img", "out-image"), "chart");
    image.alt = "Chart or image shown by the code";
    let payload = String(data || "");
    if (!/^[A-Za-z0-9+/=\s]*$/.test(payload)) {
      // SVG may come as markup: encode it. In <img>, an SVG's scripts never run.
      payload = btoa(unescape(encodeURIComponent(payload)));
    }
    const stick = nearBottom();
    image.addEventListener("load", () => { if (stick) scrollToBottom(); }, { once: true });
    image.src = "data:" + mime + ";base64," + payload.replace(/\s/g, "");
    cell.querySelector(".tool-output").append(image);
  }

  function appendHtml(cell, html) {
    // Shown, never injected: an iframe with an empty sandbox runs no script, has no
    // access to this page, and cannot navigate it.
    const frame = element("iframe", "out-html");
    frame.setAttribute("sandbox", "");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.title = "HTML output of the code";
    htmlFrames += 1;
    frame.name = "out-html-" + htmlFrames;
    cell.querySelector(".tool-output").append(frame);
    if (!htmlFrameForm) return;
    const post = htmlFrameForm.cloneNode(true);
    post.target = frame.name;
    post.elements.html.value = String(html || "");
    document.body.append(post);
    frame.addEventListener("load", () => post.remove(), { once: true });
    post.submit();
  }

  function appendFile(cell, path, url) {
    const line = element("div", "out-file", "Saved to Drive: ");
    const link = String(url || "");
    if (link.startsWith("/") && !link.startsWith("//")) {
      const anchor = testid(element("a", "", path), "drive-file");
      anchor.href = link;
      line.append(anchor);
    } else {
      line.append(element("span", "mono", path));
    }
    cell.querySelector(".tool-output").append(line);
  }

  function appendNotice(cell, text, first) {
    const output = cell.querySelector(".tool-output");
    const shown = Number(cell.dataset.notices || 0);
    cell.dataset.notices = shown + 1;
    if (shown < MAX_NOTICES) {
      const notice = element("div", "out-notice", String(text || "").slice(0, 2000));
      if (first) output.prepend(notice);
      else output.append(notice);
      return;
    }
    let more = output.querySelector(".out-notice-more");
    if (!more) {
      more = element("div", "out-notice out-notice-more");
      output.append(more);
    }
    const hidden = shown + 1 - MAX_NOTICES;
    more.textContent = "… and " + hidden + (hidden === 1 ? " more notice" : " more notices");
  }

  function finishCell(cell, event) {
    const status = event.status || "error";
    cell.dataset.status = status;
    cell.classList.toggle("is-bad", BAD_TOOL_STATUSES.includes(status));
    const duration = formatDuration(event.duration_ms);
    cell.querySelector(".tool-status").textContent = duration ? status + " · " + duration : status;
    if (event.message) {
      // Some endings were shown as a notice already ("Stopped.", a transfer's "Copied …",
      // which a Drive link may follow): said once.
      const said = [...cell.querySelectorAll(".tool-output .out-notice")].some(
        (notice) => notice.textContent === event.message
      );
      if (!said) appendNotice(cell, event.message);
    }
  }

  function finishTurn(turn, event) {
    const line = turn.querySelector(".turn-status");
    line.dataset.status = event.status;
    line.dataset.state = event.state || "";
    // The server words it (agents.turn_states), as a reload shows it.
    line.textContent = event.status_text || event.status;
    line.classList.toggle("is-bad", event.state !== "answered");
    showConversationState(event.state);
    // A call still "running" was cut short by the end of the turn.
    turn.querySelectorAll('.tool-cell[data-status="running"]').forEach((cell) => {
      cell.dataset.status = "cancelled";
      cell.querySelector(".tool-status").textContent = "stopped";
    });
  }

  // --- The usage meter ---------------------------------------------------------------

  function updateMeter() {
    if (!meterLine || meter.rate === null) return;
    const running = meter.toolSince ? Date.now() - meter.toolSince : 0;
    const seconds = Math.ceil((meter.activeMs + running) / 1000);
    const credits = Number((seconds * meter.rate).toFixed(3));
    meterLine.textContent =
      "Active " + seconds + " s · " + credits + (credits === 1 ? " credit" : " credits");
    meterLine.hidden = false;
  }

  function meterEvent(event) {
    if (event.type === "turn_started") {
      Object.assign(meter, { activeMs: 0, toolSince: 0 });
    } else if (event.type === "usage") {
      meter.activeMs = Number(event.active_ms) || 0;
      if (event.rate !== undefined && event.rate !== null) meter.rate = Number(event.rate);
    } else if (event.type === "tool_started") {
      meter.toolSince = Date.now();
    } else if (event.type === "tool_finished") {
      // Until the usage event that follows brings the measured figure.
      if (meter.toolSince) meter.activeMs += Number(event.duration_ms) || 0;
      meter.toolSince = 0;
    } else if (event.type === "turn_finished") {
      meter.toolSince = 0;
    } else {
      return;
    }
    updateMeter();
  }

  // --- Running state -----------------------------------------------------------------

  function updateControls() {
    const busy = pending || runningTurn !== null;
    sendButton.disabled = !connected || busy || tooLong();
    stopButton.hidden = runningTurn === null;
    runningLine.hidden = !busy;
    if (runningTurn !== null) {
      const seconds = Math.max(0, Math.floor((Date.now() - runningSince) / 1000));
      runningLine.textContent = "Running… " + seconds + " s";
    } else if (pending) {
      runningLine.textContent = "Starting…";
    }
    if (meter.toolSince) updateMeter();
  }

  function startRunning(turnId, secondsSoFar) {
    runningTurn = turnId;
    runningSince = Date.now() - (secondsSoFar || 0) * 1000;
    stopButton.disabled = false;
    stopButton.textContent = "Stop";
    if (!ticker) ticker = window.setInterval(updateControls, 1000);
    updateControls();
  }

  function stopRunning() {
    runningTurn = null;
    if (ticker) window.clearInterval(ticker);
    ticker = null;
    updateControls();
  }

  function setConnection(which, text) {
    connectionLine.dataset.state = which;
    connectionLine.textContent = text;
    connected = which === "open";
    updateControls();
  }

  // --- Errors ------------------------------------------------------------------------

  function showError(message) {
    const line = testid(element("div", "pg-error"), "chat-error");
    line.setAttribute("role", "alert");
    line.append(element("span", "", message || "Something went wrong."));
    const dismiss = element("button", "pg-error-dismiss", "×");
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.addEventListener("click", () => line.remove());
    line.append(dismiss);
    errors.append(line);
  }

  // --- Events from the server --------------------------------------------------------

  function handle(event) {
    if (!event || typeof event !== "object") return;
    if (buffered) {
      buffered.push(event);
      return;
    }
    const stick = nearBottom();
    apply(event);
    if (stick) scrollToBottom();
  }

  // The first message names the conversation: the heading, the tab and the list follow
  // at once (an empty conversation is not listed until then).
  function showTitle(title) {
    const heading = document.querySelector("[data-testid=conversation-title]");
    if (!heading || heading.textContent === title) return;
    heading.textContent = title;
    document.title = title + " · Playground" + document.title.replace(/^.*?Playground/, "");
    let link = document.querySelector("[data-testid=conversation-link][aria-current=page]");
    if (!link) {
      let list = document.querySelector("[data-testid=conversations]");
      if (!list) {
        list = element("ul", "pg-conversations");
        list.dataset.testid = "conversations";
        const none = document.querySelector("[data-testid=no-conversations]");
        if (none) none.replaceWith(list);
      }
      link = element("a");
      link.href = window.location.pathname;
      link.setAttribute("aria-current", "page");
      link.dataset.testid = "conversation-link";
      link.append(element("span", "pg-conv-title"));
      const item = element("li");
      item.append(link);
      list.prepend(item);
    }
    link.querySelector(".pg-conv-title").textContent = title;
  }

  // The list says the open conversation's last turn state, in the transcript's words.
  function showConversationState(stateKey) {
    const link = document.querySelector("[data-testid=conversation-link][aria-current=page]");
    const label = (state.state_labels || {})[stateKey];
    if (!link || !label) return;
    let meta = link.querySelector(".pg-conv-meta");
    if (!meta) {
      meta = element("span", "pg-conv-meta");
      link.append(meta);
    }
    let badge = meta.querySelector("[data-testid=conversation-state]");
    if (!badge) {
      if (meta.textContent) meta.append(" · ");
      badge = testid(element("span", "pg-conv-state"), "conversation-state");
      meta.append(badge);
    }
    badge.textContent = label;
    badge.classList.toggle("is-bad", !["answered", "running"].includes(stateKey));
  }

  function apply(event) {
    if (event.type === "error") {
      if (pending) pending = false;
      updateControls();
      showError(event.message);
      return;
    }
    if (event.type === "resync") {
      // The server's channel layer was down for a moment: events may have been missed.
      refresh();
      return;
    }
    if (!event.turn) return;
    if (runningTurn === null || runningTurn === event.turn || event.type === "turn_started") {
      meterEvent(event);
    }
    if (event.type === "turn_started") {
      if (event.title) showTitle(String(event.title));
      showConversationState("running");
      turnFor(event.turn, event.user_message);
      if (pending) {
        pending = false;
        input.value = "";
      }
      startRunning(event.turn, 0);
      return;
    }
    const turn = turnFor(event.turn);
    if (event.type === "turn_finished") {
      finishTurn(turn, event);
      collapseLong(turn);
      if (runningTurn === null || runningTurn === event.turn) stopRunning();
      if (missedOutput) {
        missedOutput = false;
        refresh();
      }
      return;
    }
    if (event.type === "text_delta") {
      appendText(turn, String(event.text || ""));
      return;
    }
    if (event.type === "usage") return;
    if (event.call === undefined || event.call === null) return;
    if (event.type === "tool_started") {
      cellFor(turn, event);
      return;
    }
    const cell = cellFor(turn, event);
    if (event.type === "tool_finished") {
      finishCell(cell, event);
      return;
    }
    // After a refresh a finished call already shows its recorded output.
    if (cellIsFinished(cell)) return;
    if (event.type === "stdout" || event.type === "stderr") {
      appendStream(cell, event.type, String(event.text || ""));
    } else if (event.type === "display") {
      if (IMAGE_MIMES.includes(event.mime)) appendImage(cell, event.mime, event.data);
      else if (event.mime === "text/html") appendHtml(cell, event.data);
      else appendStream(cell, "stdout", String(event.data || ""));
    } else if (event.type === "file") {
      appendFile(cell, event.path, event.url);
    } else if (event.type === "notice") {
      appendNotice(cell, event.text, event.first === true);
    }
  }

  // After a dropped connection: what was recorded meanwhile, from the page itself. While
  // the same turn still runs, the live transcript is kept (its running call's output is
  // only recorded when the call ends) and reloaded at the turn's ending instead.
  async function refresh() {
    buffered = [];
    try {
      const response = await fetch(window.location.href, {
        headers: { Accept: "text/html" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.querySelector("[data-transcript]");
        const freshState = page.getElementById("playground-state");
        if (fresh && freshState) {
          const now = JSON.parse(freshState.textContent);
          const stillRunning = runningTurn !== null && now.running_turn === runningTurn;
          missedOutput = missedOutput || stillRunning;
          if (!stillRunning) {
            transcript.replaceChildren(...Array.from(fresh.childNodes));
            highlight(transcript);
          }
          if (now.running_turn) startRunning(now.running_turn, now.running_seconds);
          else stopRunning();
        }
      }
    } catch (error) {
      // Keep what is shown; the live events still arrive.
    }
    const queued = buffered;
    buffered = null;
    queued.forEach(handle);
  }

  // --- The websocket -----------------------------------------------------------------

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + state.ws_path);
    socket = ws;
    ws.addEventListener("open", () => {
      attempts = 0;
      const reopened = everOpened;
      everOpened = true;
      setConnection("open", "");
      if (reopened) refresh();
    });
    ws.addEventListener("message", (message) => {
      let event = null;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      handle(event);
    });
    ws.addEventListener("close", (close) => {
      if (socket !== ws) return;
      socket = null;
      if (pending) {
        pending = false;
        showError("The connection dropped before the message was sent. Send it again.");
      }
      if (close.code === 4403) {
        refused = true;
        setConnection("refused", "This conversation cannot be opened: sign in again.");
        return;
      }
      reconnectLater();
    });
  }

  function reconnectLater() {
    if (refused) return;
    const delay = Math.min(15000, 500 * 2 ** attempts) * (0.8 + Math.random() * 0.4);
    attempts += 1;
    setConnection("reconnecting", "Connection lost: reconnecting…");
    window.setTimeout(connect, delay);
  }

  // --- Sending -----------------------------------------------------------------------

  function tooLong() {
    return input.value.length > maxChars;
  }

  // Said before sending: the server refuses longer messages, and sending megabytes only
  // to hear that holds the page. The text stays in the box.
  function updateCounter() {
    const length = input.value.length;
    const count = (n) => n.toLocaleString("en-US");
    counter.hidden = length <= maxChars * 0.9;
    counter.textContent = tooLong()
      ? count(length) + " characters: at most " + count(maxChars) + " can be sent"
      : count(length) + " of " + count(maxChars) + " characters";
    counter.classList.toggle("is-bad", tooLong());
    updateControls();
  }

  function send() {
    const text = input.value;
    if (!text.trim() || pending || runningTurn !== null || tooLong()) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected yet: wait a moment and send again.");
      return;
    }
    socket.send(JSON.stringify({ type: "send", text: text }));
    pending = true;
    updateControls();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  stopButton.addEventListener("click", () => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "stop" }));
    stopButton.disabled = true;
    stopButton.textContent = "Stopping…";
  });

  input.addEventListener("input", updateCounter);
  highlight(transcript);
  collapseLong(transcript);
  if (state.running_turn) startRunning(state.running_turn, state.running_seconds);
  setConnection("connecting", "Connecting…");
  connect();
  scrollToBottom();
})();
