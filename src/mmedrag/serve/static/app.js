// mmedrag page: drag-and-drop onto the image field, the chosen file's name, and a busy state while answering.
// Plain script, no framework, nothing loaded from elsewhere (the page's Content-Security-Policy forbids it).
(function () {
  "use strict";
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("image");
  var chosen = document.getElementById("chosen");
  var form = document.getElementById("ask-form");
  var button = document.getElementById("ask-button");
  if (!zone || !input || !form) { return; }

  function showName() {
    chosen.textContent = input.files && input.files.length ? "Selected: " + input.files[0].name : "No image selected";
  }
  input.addEventListener("change", showName);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showName();
    }
  });
  form.addEventListener("submit", function () {
    button.disabled = true;
    button.textContent = "Answering…";
    form.setAttribute("aria-busy", "true");
  });
})();
