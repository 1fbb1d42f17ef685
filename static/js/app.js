// Small progressive enhancements; every page also works without them.
(function () {
  "use strict";

  // Forms with data-confirm ask in a dialog before they submit (deletes, removals).
  function confirmDialog(text) {
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog || !dialog.showModal) return Promise.resolve(window.confirm(text));
    dialog.querySelector(".dialog-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    });
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.dataset.confirm || form.dataset.confirmed) return;
    event.preventDefault();
    if (await confirmDialog(form.dataset.confirm)) {
      form.dataset.confirmed = "1";
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });

  // Selects marked data-autosubmit save as soon as they change (role pickers).
  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches("select[data-autosubmit]")) el.form.requestSubmit();
  });

  window.Turnbox = { confirmDialog };
  // A box that scrolls sideways (code, a wide table on a phone) must be reachable by
  // keyboard to be read: it gets a tab stop while it overflows.
  function focusableWhenScrolling() {
    document.querySelectorAll(".main pre, .main pre > code, .main table").forEach((box) => {
      const scrolls = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.tabIndex = 0;
        box.dataset.scrollFocus = "yes";
      } else if (!scrolls && box.dataset.scrollFocus) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
    });
  }
  focusableWhenScrolling();
  // Again once highlighting (other scripts' load handlers) and images changed the sizes.
  window.addEventListener("load", () => window.setTimeout(focusableWhenScrolling, 0));
  window.addEventListener("resize", focusableWhenScrolling);
})();
