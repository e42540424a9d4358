// Workstation: drop one file, show upload progress, then the Top-5 (hover for exact values),
// the spectrogram and the attention overlay.
(function () {
  "use strict";
  const main = document.getElementById("content-main");
  const drop = document.getElementById("drop");
  const input = document.getElementById("file");
  const progress = document.getElementById("progress");
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  const image = document.getElementById("ws-image");
  const overlay = document.getElementById("overlay");
  let images = {};

  function show(kind) { image.src = images[kind] || images.spectrogram; image.alt = kind; }

  // Nothing of an earlier file stays on screen once another is sent: no stale Top-5, no image.
  function clear() {
    result.hidden = true;
    images = {};
    image.removeAttribute("src");
    document.getElementById("bars").replaceChildren();
    ["warning", "meta", "regions"].forEach(function (id) { document.getElementById(id).textContent = ""; });
  }

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "errornote" : "help";
    status.setAttribute("role", isError ? "alert" : "status");
  }
  overlay.addEventListener("change", function () { show(overlay.checked ? "attention" : "spectrogram"); });

  function render(data) {
    const bars = document.getElementById("bars");
    bars.replaceChildren();
    data.results.forEach(function (r, i) {
      const row = document.createElement("div");
      row.className = "ws-row";
      row.title = r.genre + ": " + r.confidence.toFixed(6);  // hover shows the exact value
      const label = document.createElement("span"); label.className = "as-label"; label.textContent = (i + 1) + ". " + r.genre;
      const bar = document.createElement("span"); bar.className = "as-bar";
      const fill = document.createElement("span"); fill.style.width = (r.confidence * 100).toFixed(1) + "%"; bar.append(fill);
      const pct = document.createElement("span"); pct.className = "as-pct"; pct.textContent = (r.confidence * 100).toFixed(1) + "%";
      row.append(label, bar, pct);
      bars.append(row);
    });
    document.getElementById("warning").textContent = data.warning || "";
    document.getElementById("meta").textContent = data.model_version + " · " + data.duration_s.toFixed(1) + " s of audio · "
      + Math.round(data.latency_ms) + " ms";
    document.getElementById("regions").textContent = data.regions && data.regions.length
      ? "Most attended: " + data.regions.join(" · ") : "";
    images = data.images;
    show(overlay.checked ? "attention" : "spectrogram");
    result.hidden = false;
  }

  function send(file) {
    if (!file) return;
    const form = new FormData();
    form.append("audio", file);
    const request = new XMLHttpRequest();
    request.open("POST", main.dataset.url);
    request.setRequestHeader("X-CSRFToken", document.querySelector("[name=csrfmiddlewaretoken]").value);
    progress.hidden = false; progress.value = 0;
    clear();
    say("Uploading " + file.name + "…", false);
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) progress.value = Math.round(100 * event.loaded / event.total);
    };
    request.upload.onload = function () { progress.removeAttribute("value"); say("Analysing " + file.name + "…", false); };
    request.onload = function () {
      progress.hidden = true;
      let data = {};
      try { data = JSON.parse(request.responseText); } catch (e) { data = {error: {message: "The server answered " + request.status + "."}}; }
      if (request.status !== 200) {
        clear();
        say(file.name + " could not be analysed: " + ((data.error && data.error.message) || "the server answered " + request.status + "."), true);
        return;
      }
      say("Done: " + file.name, false);
      render(data);
    };
    request.onerror = function () { progress.hidden = true; clear(); say(file.name + ": the upload failed (network).", true); };
    request.send(form);
  }

  input.addEventListener("change", function () { send(input.files[0]); });
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (event) { send(event.dataTransfer.files[0]); });
})();
