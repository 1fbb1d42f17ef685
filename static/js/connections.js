// Add-connection form: shows only the fields that apply to the chosen kind. Without
// JavaScript every field shows and the server rejects the ones that do not apply.
(function () {
  "use strict";

  const PLACEHOLDERS = { pixelml: "pxm_…", openai: "sk-…", anthropic: "sk-ant-…" };

  function sync(select) {
    const form = select.form;
    form.querySelectorAll("[data-kinds]").forEach((input) => {
      const applies = input.dataset.kinds.split(" ").includes(select.value);
      const field = input.closest(".field");
      if (field) field.hidden = !applies;
      // Disabled inputs are not submitted, so a value typed for another kind is dropped.
      input.disabled = !applies;
    });
    const secret = form.querySelector("input[type=password]");
    if (secret) secret.placeholder = PLACEHOLDERS[select.value] || "";
  }

  document.querySelectorAll("select[data-connection-kind]").forEach((select) => {
    select.addEventListener("change", () => sync(select));
    sync(select);
  });
})();
