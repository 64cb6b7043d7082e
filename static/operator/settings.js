// Assistant settings: the "Test connection" button. Posts the form as it stands (saved or not)
// to a staff-only JSON endpoint and shows the answer as text, never as HTML.
(function () {
  "use strict";
  const button = document.getElementById("operator-test-button");
  if (!button) return;
  const status = document.getElementById("operator-test-status");
  const output = document.getElementById("operator-test-output");

  function show(message, state) {
    status.textContent = message;
    status.dataset.state = state;
  }

  async function test() {
    const form = button.closest("form");
    button.disabled = true;
    output.hidden = true;
    show("Testing…", "busy");
    try {
      const response = await fetch(button.dataset.url, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      });
      const result = await response.json();
      if (result.ok) {
        show(`Connected to ${result.provider} · ${result.model}: first token in ${result.ttft_ms} ms, ` +
             `whole answer in ${result.total_ms} ms.`, "ok");
        output.textContent = result.text;
        output.hidden = false;
      } else if (result.fields) {
        const problems = Object.entries(result.fields).map(([name, errors]) => `${name}: ${errors.join(" ")}`);
        show(`${result.error} ${problems.join("; ")}`, "error");
      } else {
        const message = result.error && result.error.message ? result.error.message : result.error;
        show(`Failed: ${message}`, "error");
      }
    } catch (error) {
      show(`Failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  button.addEventListener("click", test);
})();
