// The dashboard's live usage figures: a websocket per workspace (docs/agents.md) sends
// the balance, today's usage and the burn rate on connect and after every ledger entry.
(function () {
  "use strict";

  const panel = document.querySelector("[data-usage-live]");
  if (!panel) return;
  const stateLine = panel.querySelector("[data-usage-state]");
  let attempts = 0;

  function show(event) {
    panel.querySelectorAll("[data-usage-field]").forEach((node) => {
      const value = event[node.dataset.usageField];
      node.textContent = value === null || value === undefined ? "—" : String(value);
    });
    panel.dataset.updatedAt = event.at || "";
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + panel.dataset.wsPath);
    socket.addEventListener("open", () => {
      attempts = 0;
      stateLine.textContent = "live";
      panel.dataset.state = "live";
    });
    socket.addEventListener("message", (message) => {
      let event = null;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      if (event && event.type === "usage") show(event);
    });
    socket.addEventListener("close", (close) => {
      panel.dataset.state = "off";
      if (close.code === 4403) {
        stateLine.textContent = "live updates refused: sign in again";
        return;
      }
      stateLine.textContent = "reconnecting…";
      const delay = Math.min(15000, 500 * 2 ** attempts) * (0.8 + Math.random() * 0.4);
      attempts += 1;
      window.setTimeout(connect, delay);
    });
  }

  connect();
})();
