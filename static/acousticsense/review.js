// Review screen: keyboard decisions, playback cursor on the spectrogram, attention toggle.
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const form = document.getElementById("decision-form");
  const skipForm = document.getElementById("skip-form");
  const player = document.getElementById("player");
  const cursor = document.getElementById("cursor");
  const spectro = document.getElementById("spectro");
  const toggle = document.getElementById("toggle-attention");
  const other = document.getElementById("other-genre");
  const otherRadio = document.getElementById("other-radio");
  const radios = Array.from(document.querySelectorAll("#topk input[type=radio]:not(#other-radio)"));
  const opened = Date.now();
  const duration = parseFloat(root.dataset.duration) || 0;
  const plotLeft = parseFloat(root.dataset.plotLeft);
  const plotWidth = parseFloat(root.dataset.plotWidth);
  let submitting = false;

  function submitDecision() {
    if (submitting) return;
    if (!form.querySelector("input[name=genre]:checked")) {
      (radios[0] || other).focus();
      return;
    }
    submitting = true;
    form.querySelector("[name=seconds_on_screen]").value = ((Date.now() - opened) / 1000).toFixed(1);
    HTMLFormElement.prototype.submit.call(form);  // immune to a control named "submit"
  }

  function pick(index) {
    if (radios[index]) radios[index].checked = true;
  }

  document.getElementById("accept").addEventListener("click", function () { pick(0); submitDecision(); });
  form.addEventListener("submit", function (event) { event.preventDefault(); submitDecision(); });
  other.addEventListener("input", function () { otherRadio.checked = true; });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) && event.target.type !== "radio"
      && event.target.type !== "checkbox";
    if (typing) {
      if (event.key === "Enter" && event.target.tagName !== "TEXTAREA") { event.preventDefault(); submitDecision(); }
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key.toLowerCase();
    if (key >= "1" && key <= "5") { pick(Number(key) - 1); event.preventDefault(); }
    else if (key === "a") { pick(0); submitDecision(); event.preventDefault(); }
    else if (key === "o") { otherRadio.checked = true; other.focus(); event.preventDefault(); }
    else if (key === "s") { HTMLFormElement.prototype.submit.call(skipForm); event.preventDefault(); }
    else if (key === "enter") { submitDecision(); event.preventDefault(); }
    else if (key === " ") { player.paused ? player.play() : player.pause(); event.preventDefault(); }
    else if (key === "t" && toggle) { toggle.click(); event.preventDefault(); }
  });

  if (toggle) {
    toggle.addEventListener("change", function () {
      document.getElementById("img-attention").hidden = !toggle.checked;
      document.getElementById("img-spectrogram").hidden = toggle.checked;
    });
  }

  function moveCursor() {
    if (!cursor || !duration) return;
    const fraction = Math.min(1, Math.max(0, player.currentTime / duration));
    cursor.style.left = ((plotLeft + plotWidth * fraction) * 100).toFixed(3) + "%";
  }
  function follow() { moveCursor(); if (!player.paused) requestAnimationFrame(follow); }
  player.addEventListener("play", follow);
  player.addEventListener("seeked", moveCursor);
  player.addEventListener("timeupdate", moveCursor);
  if (spectro) {
    spectro.addEventListener("click", function (event) {
      const box = spectro.getBoundingClientRect();
      const fraction = ((event.clientX - box.left) / box.width - plotLeft) / plotWidth;
      if (fraction >= 0 && fraction <= 1 && duration) { player.currentTime = fraction * duration; moveCursor(); }
    });
  }
  moveCursor();
})();
