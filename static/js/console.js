// The operator console: a newly issued PixelML key, shown once, gets a Copy button.
(function () {
  "use strict";

  document.querySelectorAll(".messagelist li.issued-key").forEach((item) => {
    const match = item.textContent.match(/\bpxm_[A-Za-z0-9_-]+/);
    if (!match) return;
    const key = match[0];
    const [before, after] = item.textContent.split(key);
    const code = document.createElement("code");
    code.textContent = key;
    code.dataset.testid = "issued-key";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.textContent = "Copy key";
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(key);
        copy.textContent = "Copied";
      } catch (error) {
        // No clipboard (an insecure origin): the key is selected for Ctrl+C instead.
        window.getSelection().selectAllChildren(code);
        copy.textContent = "Press Ctrl+C to copy";
      }
    });
    item.replaceChildren(before, code, copy, after);
  });
})();
