// Review screen: keyboard decisions, playback cursor on the spectrogram, attention toggle.
// The Undo banner (after a save, on the next track or the queue page) works on both pages.
(function () {
  "use strict";
  const undoBanner = document.getElementById("undo-banner");
  const undoForm = document.getElementById("undo-form");
  let undoLive = Boolean(undoForm);
  if (undoBanner) {
    // The server refuses an undo after its window anyway; the banner just stops offering it.
    const deadline = Date.now() + (parseFloat(undoBanner.dataset.secondsLeft) || 0) * 1000;
    const left = document.getElementById("undo-left");
    const tick = function () {
      const seconds = Math.ceil((deadline - Date.now()) / 1000);
      if (seconds <= 0) { undoLive = false; undoBanner.remove(); return; }
      if (left) left.textContent = "(" + seconds + " s)";
      setTimeout(tick, 250);
    };
    tick();
  }
  function undo() {
    if (undoLive) { undoLive = false; HTMLFormElement.prototype.submit.call(undoForm); }
  }
  const root = document.getElementById("review");
  if (!root) {
    document.addEventListener("keydown", function (event) {
      const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
      if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey && event.key.toLowerCase() === "u" && undoLive) {
        undo(); event.preventDefault();
      }
    });
    return;
  }
  const form = document.getElementById("decision-form");
  const skipForm = document.getElementById("skip-form");
  const player = document.getElementById("player");
  const cursor = document.getElementById("cursor");
  const spectro = document.getElementById("spectro");
  const toggle = document.getElementById("toggle-attention");
  const other = document.getElementById("other-genre");
  const otherRadio = document.getElementById("other-radio");
  const radios = Array.from(document.querySelectorAll("#topk input[type=radio]:not(#other-radio)"));
  const rejectForm = document.getElementById("reject-form");
  const reasons = Array.from(document.querySelectorAll("#reject-reasons input[type=radio]"));
  const rejectNote = document.getElementById("reject-note");
  const pickHint = document.getElementById("pick-hint");
  const reasonHint = document.getElementById("reason-hint");
  const backForm = document.getElementById("back-form");
  const opened = Date.now();
  const duration = parseFloat(root.dataset.duration) || 0;
  const plotLeft = parseFloat(root.dataset.plotLeft);
  const plotWidth = parseFloat(root.dataset.plotWidth);
  let submitting = false;

  function submitDecision() {
    if (submitting) return;
    if (!form.querySelector("input[name=genre]:checked")) {
      pickHint.hidden = false;  // say why nothing happened
      (radios[0] || other).focus();
      return;
    }
    submitting = true;
    form.querySelector("[name=seconds_on_screen]").value = ((Date.now() - opened) / 1000).toFixed(1);
    HTMLFormElement.prototype.submit.call(form);  // immune to a control named "submit"
  }

  function rejecting() { return !rejectForm.hidden; }
  function openReject(open) {
    rejectForm.hidden = !open;
    form.hidden = open;
    if (!open) reasonHint.hidden = true;
  }
  function submitReject() {
    if (submitting) return;
    const reason = rejectForm.querySelector("input[name=reason]:checked");
    if (!reason) { reasonHint.hidden = false; return; }
    if (reason.value === "other" && !rejectNote.value.trim()) {
      reasonHint.textContent = "Say why in the note (reason “other”)";
      reasonHint.hidden = false;
      rejectNote.focus();
      return;
    }
    submitting = true;
    rejectForm.querySelector("[name=seconds_on_screen]").value = ((Date.now() - opened) / 1000).toFixed(1);
    HTMLFormElement.prototype.submit.call(rejectForm);
  }

  function pick(index) {
    if (radios[index]) radios[index].checked = true;
  }

  document.getElementById("accept").addEventListener("click", function () { pick(0); submitDecision(); });
  form.addEventListener("submit", function (event) { event.preventDefault(); submitDecision(); });
  other.addEventListener("input", function () { otherRadio.checked = true; });
  radios.forEach(function (radio) { radio.addEventListener("change", function () { pickHint.hidden = true; }); });
  document.getElementById("reject-open").addEventListener("click", function () { openReject(true); });
  document.getElementById("reject-cancel").addEventListener("click", function () { openReject(false); });
  rejectForm.addEventListener("submit", function (event) { event.preventDefault(); submitReject(); });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName) && event.target.type !== "radio"
      && event.target.type !== "checkbox";
    if (typing) {
      if (event.key === "Enter" && event.target.tagName !== "TEXTAREA") {
        event.preventDefault();
        rejecting() ? submitReject() : submitDecision();
      }
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "u" && undoLive) { undo(); event.preventDefault(); return; }
    if (key === "b" && backForm) { HTMLFormElement.prototype.submit.call(backForm); event.preventDefault(); return; }
    if (rejecting()) {  // the reject panel: 1–6 pick a reason, Enter rejects, Esc goes back to genres
      if (key >= "1" && key <= String(reasons.length)) {
        reasons[Number(key) - 1].checked = true; reasonHint.hidden = true; event.preventDefault();
      } else if (key === "enter") { submitReject(); event.preventDefault(); }
      else if (key === "escape") { openReject(false); event.preventDefault(); }
      else if (key === " ") { player.paused ? player.play() : player.pause(); event.preventDefault(); }
      else if (key === "s") { HTMLFormElement.prototype.submit.call(skipForm); event.preventDefault(); }
      return;
    }
    if (key >= "1" && key <= "5") { pick(Number(key) - 1); pickHint.hidden = true; event.preventDefault(); }
    else if (key === "x") { openReject(true); event.preventDefault(); }
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
