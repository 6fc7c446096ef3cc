// rtpref annotate: show one pair, time the choice in the browser, send it to the server.
//
// The clock starts in the first animation frame after both items are in the page and every
// image is decoded (img.decode()), i.e. the frame that first paints the pair, and stops in the
// click or key handler; both readings come from performance.now(). Text from the dataset is
// only ever inserted with textContent, never parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = {
  annotator: null, session: null, pair: null, shownAt: null, hidden: false, restarts: 0,
};
const $ = (selector) => document.querySelector(selector);

function message(text) { $("#message").textContent = text; }

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (error) { /* a body that is not JSON */ }
  return { status: response.status, data };
}

function progress(data) {
  $("#progress").textContent = `${data.answered} of ${data.total} answered`;
}

async function start(annotator) {
  const { status, data } = await post("/api/session", { annotator });
  if (status !== 200) {
    message(`Could not start: ${data.detail || status}`);
    return;
  }
  state.annotator = data.annotator;
  state.session = data.session;
  $("#who").textContent = `annotator: ${data.annotator}`;
  $("#start").hidden = true;
  $("#task").hidden = false;
  const url = new URL(window.location.href);
  url.searchParams.set("annotator", data.annotator);
  window.history.replaceState(null, "", url);
  progress(data);
  await nextPair();
}

async function restartSession() {
  // The server restarted (its sessions are in memory): begin a new session as the same
  // annotator; the pair on screen was not saved and comes back.
  state.restarts += 1;
  if (state.restarts > 3) { message("The server keeps losing the session; reload the page."); return; }
  await start(state.annotator);
}

function shapeElement(points) {
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY) || 1;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "-0.05 -0.05 1.1 1.1");
  const line = document.createElementNS(SVG, "polyline");
  // y grows downwards in SVG: flip it so shapes appear as plotted.
  line.setAttribute("points", points.map(([x, y]) =>
    `${((x - minX) / span).toFixed(4)},${(1 - (y - minY) / span).toFixed(4)}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#3b6fd8");
  line.setAttribute("stroke-width", "0.012");
  line.setAttribute("stroke-linejoin", "round");
  svg.appendChild(line);
  return svg;
}

async function mediaFor(item) {
  if (item.kind === "image") {
    const img = new Image();
    img.alt = item.caption;
    img.src = item.image_url;
    await img.decode();
    return { media: img, caption: item.caption };
  }
  if (item.kind === "text") {
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = item.text;
    return { media: text, caption: "", prompt: item.prompt };
  }
  return { media: shapeElement(item.points), caption: "" };
}

function fill(side, content) {
  const slot = $(`#${side}`);
  slot.querySelector(".media").replaceChildren(content.media);
  slot.querySelector(".caption").textContent = content.caption;
}

async function nextPair(notice = "") {
  state.pair = null;
  state.shownAt = null;
  document.body.dataset.state = "loading";
  $("#pair").classList.add("waiting");
  const { status, data } = await post("/api/next", { session: state.session });
  if (status === 404) { await restartSession(); return; }
  if (status !== 200) { message(`Could not load the next pair: ${data.detail || status}`); return; }
  progress(data);
  if (data.done) {
    $("#task").hidden = true;
    document.body.dataset.state = "done";
    message("All pairs are answered. Thank you! You can close this tab.");
    return;
  }
  let left, right;
  try {
    [left, right] = await Promise.all([mediaFor(data.left), mediaFor(data.right)]);
  } catch (error) {
    message(`Could not show this pair (${error}); reload the page to try again.`);
    return;
  }
  fill("left", left);
  fill("right", right);
  $("#prompt").textContent = left.prompt || "";
  $("#pair").dataset.token = data.token;
  $("#pair").classList.remove("waiting");
  state.hidden = document.visibilityState === "hidden";
  message(notice);
  requestAnimationFrame(() => {
    state.shownAt = performance.now();
    state.pair = data;
    document.body.dataset.state = "shown";
  });
}

async function choose(side, input) {
  if (state.pair === null || state.shownAt === null) return;  // nothing on screen (yet)
  const responseTimeMs = performance.now() - state.shownAt;
  const pair = state.pair;
  state.pair = null;  // one answer per pair, however fast the clicks come
  document.body.dataset.state = "sending";
  const { status, data } = await post("/api/answer", {
    session: state.session, token: pair.token, side, response_time_ms: responseTimeMs,
    page_hidden: state.hidden, input,
  });
  if (status === 404 && /session/.test(data.detail || "")) { await restartSession(); return; }
  let notice = "";
  if (status === 200) {
    state.restarts = 0;
  } else if (status === 409) {
    notice = "That pair was already answered in another tab; here is the next one.";
  } else if (status !== 200) {
    notice = `Your answer was not saved: ${data.detail || status}`;
  }
  await nextPair(notice);
}

document.addEventListener("keydown", (event) => {
  if (event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
    event.preventDefault();
    choose(event.key === "ArrowLeft" ? "left" : "right", "key");
  }
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") state.hidden = true;
});

document.addEventListener("DOMContentLoaded", () => {
  for (const side of ["left", "right"]) {
    $(`#${side}`).addEventListener("click", (event) => {
      // A click synthesised from the keyboard (Enter/Space on a focused button) counts as a key.
      choose(side, event.detail === 0 ? "key" : "click");
    });
  }
  $("#start").addEventListener("submit", (event) => {
    event.preventDefault();
    start($("#annotator").value.trim());
  });
  const annotator = new URL(window.location.href).searchParams.get("annotator");
  if (annotator) {
    $("#annotator").value = annotator;
    start(annotator);
  }
});
