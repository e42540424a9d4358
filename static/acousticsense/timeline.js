// Review screen: the genre timeline's hover box and click-to-seek, and a zoomed (long) track's
// scrolling pane that keeps the playback cursor in view. review.js moves the cursor itself.
(function () {
  "use strict";
  const root = document.getElementById("review");
  const pane = document.getElementById("spectro-pane");
  const player = document.getElementById("player");
  if (!root || !pane || !player) return;
  const zoom = document.getElementById("spectro-zoom");
  const strip = document.getElementById("timeline");
  const tip = document.getElementById("timeline-tip");
  const duration = parseFloat(root.dataset.duration) || 0;
  const plotLeft = parseFloat(root.dataset.plotLeft);
  const plotWidth = parseFloat(root.dataset.plotWidth);

  function showTip(segment) {
    tip.textContent = segment.dataset.tip;
    tip.hidden = false;
    const box = segment.getBoundingClientRect();
    const paneBox = pane.getBoundingClientRect();
    // centred over the part of the segment that is in view, above the strip, never off-screen
    const middle = (Math.max(box.left, paneBox.left) + Math.min(box.right, paneBox.right)) / 2;
    const left = Math.min(Math.max(4, middle - tip.offsetWidth / 2), window.innerWidth - tip.offsetWidth - 4);
    const top = box.top - tip.offsetHeight - 6;
    tip.style.left = left + "px";
    tip.style.top = (top < 4 ? box.bottom + 6 : top) + "px";
  }

  if (strip && tip) {
    strip.addEventListener("mouseover", function (event) {
      const segment = event.target.closest(".as-seg");
      if (segment) showTip(segment);
    });
    strip.addEventListener("mouseleave", function () { tip.hidden = true; });
    pane.addEventListener("scroll", function () { tip.hidden = true; });
    strip.addEventListener("click", function (event) {  // seek, as a click on the spectrogram does
      const box = strip.getBoundingClientRect();
      const fraction = (event.clientX - box.left) / box.width;
      if (duration && fraction >= 0 && fraction <= 1) player.currentTime = fraction * duration;
    });
  }

  // A zoomed picture is wider than the pane: while playing (or after a seek) the cursor stays in
  // view; when it nears an edge the pane jumps so that it sits a quarter from the left.
  function keepCursorInView() {
    if (!duration || pane.scrollWidth <= pane.clientWidth) return;
    const fraction = Math.min(1, Math.max(0, player.currentTime / duration));
    const x = (plotLeft + plotWidth * fraction) * zoom.offsetWidth;
    const view = pane.clientWidth;
    if (x < pane.scrollLeft + 0.05 * view || x > pane.scrollLeft + 0.9 * view) {
      pane.scrollLeft = Math.max(0, x - 0.25 * view);
    }
  }
  // The window playing now is underlined in the cursor's colour.
  const segments = strip ? Array.from(strip.querySelectorAll(".as-seg")) : [];
  let playing = null;
  function markPlaying() {
    let found = null;
    for (const segment of segments) {  // in time order
      if (parseFloat(segment.dataset.start) > player.currentTime) break;
      found = segment;
    }
    if (found === playing) return;
    if (playing) playing.classList.remove("as-seg-now");
    if (found) found.classList.add("as-seg-now");
    playing = found;
  }

  ["timeupdate", "seeked", "play"].forEach(function (name) {
    player.addEventListener(name, keepCursorInView);
    player.addEventListener(name, markPlaying);
  });
})();
