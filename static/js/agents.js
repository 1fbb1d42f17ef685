// Agent editor: arrow keys move between the tabs (which are links: Enter opens one), and
// the model field follows the chosen connection. Every page also works without this.
(function () {
  "use strict";

  document.querySelectorAll("[data-agent-tabs]").forEach((list) => {
    const tabs = Array.from(list.querySelectorAll("[role=tab]"));
    list.addEventListener("keydown", (event) => {
      const at = tabs.indexOf(document.activeElement);
      if (at < 0) return;
      const next = {
        ArrowRight: (at + 1) % tabs.length,
        ArrowLeft: (at - 1 + tabs.length) % tabs.length,
        Home: 0,
        End: tabs.length - 1,
      }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      tabs[next].focus();
    });
  });

  // The placeholder shows the connection's default model, used when the field is empty.
  // Direct mode has no model: the field is hidden and not sent.
  function sync(select) {
    const model = select.form.querySelector("[data-agent-model]");
    if (!model) return;
    const option = select.selectedOptions[0];
    const direct = !select.value;
    model.placeholder = (option && option.dataset.defaultModel) || "";
    const field = model.closest(".field");
    if (field) field.hidden = direct;
    model.disabled = direct;
  }

  document.querySelectorAll("select[data-agent-connection]").forEach((select) => {
    select.addEventListener("change", () => sync(select));
    sync(select);
  });
})();
