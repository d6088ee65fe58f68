// mlreg serve: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";
  // Copy buttons beside the invocation code.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent).then(function () {
        var before = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = before; }, 1500);
      });
    });
  });
  // The Models page's filter box filters the rows as you type.
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var rows = document.querySelectorAll(input.getAttribute("data-filter"));
    input.addEventListener("input", function () {
      var words = input.value.trim().toLowerCase();
      rows.forEach(function (row) {
        row.hidden = words !== "" && row.textContent.toLowerCase().indexOf(words) === -1;
      });
    });
  });
  // README preview in place, without leaving the editor.
  document.querySelectorAll("button.preview-button").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var form = button.form, preview = document.getElementById("preview");
      if (!preview || !window.fetch) return;
      event.preventDefault();
      fetch(button.getAttribute("formaction"), {
        method: "POST", credentials: "same-origin",
        headers: {"X-Requested-With": "mlreg", "Content-Type": "application/x-www-form-urlencoded"},
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (answer) { return answer.text(); }).then(function (html) { preview.innerHTML = html; });
    });
  });
  // The description: a click opens its editor with the focus in it; Enter saves (Shift+Enter: a new line).
  document.querySelectorAll("details.describe").forEach(function (details) {
    var field = details.querySelector("textarea");
    details.addEventListener("toggle", function () { if (details.open && field) field.focus(); });
    if (field) field.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); field.form.requestSubmit(); }
    });
  });
  // Escape closes an open row menu, and gives the focus back to its button.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });
})();
