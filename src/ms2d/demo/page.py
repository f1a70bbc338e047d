"""The demo's single HTML page (inline CSS and JavaScript, no external assets).

Kept as a Python string so that it ships inside the package without package-data settings.
URL parameters ``?video=ID&q=TEXT`` run a search on load (shareable links, end-to-end tests);
``&seek=1`` then clicks the first result. ``document.body.dataset.state`` is ``ready``, then
``searching``, ``done`` or ``error``.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ms2d: search your videos</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
  header { background: #1f3b57; color: #fff; padding: 10px 20px; }
  header h1 { font-size: 18px; margin: 0; display: inline; }
  header span { font-size: 12px; opacity: .8; margin-left: 12px; }
  main { display: grid; grid-template-columns: minmax(320px, 3fr) minmax(260px, 2fr); gap: 18px;
         padding: 18px 20px; max-width: 1300px; }
  section { background: #fff; border-radius: 8px; padding: 14px; box-shadow: 0 1px 3px #0002; }
  video { width: 100%; max-height: 60vh; background: #000; border-radius: 4px; }
  label { font-size: 13px; color: #555; display: block; margin: 8px 0 3px; }
  select, input[type=text], input[type=number] { font: inherit; padding: 6px 8px; width: 100%;
         box-sizing: border-box; border: 1px solid #bbb; border-radius: 4px; }
  .row { display: flex; gap: 8px; align-items: end; }
  .row > * { flex: 1; }
  .row > .narrow { flex: 0 0 80px; }
  button { font: inherit; padding: 7px 14px; border: 0; border-radius: 4px; background: #2a6fb0;
           color: #fff; cursor: pointer; }
  button:disabled { background: #99a; cursor: wait; }
  #status { font-size: 13px; color: #555; min-height: 1.4em; margin-top: 8px; }
  #status.error { color: #b00020; }
  #timeline { width: 100%; height: 178px; display: block; margin-top: 10px; cursor: pointer; }
  #timeline text { font: 10px system-ui, sans-serif; fill: #555; }
  ol#results { padding-left: 0; list-style: none; margin: 8px 0 0; }
  #results li { padding: 7px 10px; border-radius: 4px; cursor: pointer; display: flex;
                justify-content: space-between; border-left: 5px solid #f08a24; margin: 4px 0;
                background: #fdf4ea; }
  #results li:hover, #results li.active { background: #fbe0c4; }
  #results .score { color: #666; font-variant-numeric: tabular-nums; }
</style>
</head>
<body data-state="ready">
<header><h1>ms2d &mdash; search your videos</h1><span>{{CHECKPOINT}}</span></header>
<main>
  <section>
    <video id="player" controls preload="metadata"></video>
    <svg id="timeline" role="img" aria-label="score timeline"></svg>
  </section>
  <section>
    <label for="video">Video</label>
    <select id="video"></select>
    <label for="upload">&hellip;or upload one</label>
    <input type="file" id="upload" accept="video/*">
    <form id="form">
      <div class="row">
        <div><label for="query">Query</label>
          <input type="text" id="query" placeholder="a person opens the door" autocomplete="off"></div>
        <div class="narrow"><label for="topk">Top</label>
          <input type="number" id="topk" min="1" max="50" value="5"></div>
        <div class="narrow"><button id="go" type="submit">Search</button></div>
      </div>
    </form>
    <div id="status"></div>
    <ol id="results"></ol>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const player = $("player"), select = $("video"), statusEl = $("status");
const NS = "http://www.w3.org/2000/svg";
let last = null;

function fmt(t) {
  const m = Math.floor(t / 60), s = t - 60 * m;
  return (m ? m + ":" + s.toFixed(1).padStart(4, "0") : s.toFixed(1)) + "s";
}
function setStatus(text, error) {
  statusEl.textContent = text;
  statusEl.className = error ? "error" : "";
}
function seek(t, li) {
  player.currentTime = t;
  document.querySelectorAll("#results li").forEach((x) => x.classList.remove("active"));
  if (li) li.classList.add("active");
  statusEl.dataset.seekedTo = String(t);
  player.play().catch(() => {});
}
// Scores with just enough decimals (3 to 8) that different values print differently:
// saturated scores (0.99999 vs 0.99997) do not all read "1.000".
function scoreTexts(values) {
  const distinct = new Set(values).size;
  let d = 3;
  while (d < 8 && new Set(values.map((v) => v.toFixed(d))).size < distinct) d++;
  return values.map((v) => v.toFixed(d));
}
function niceStep(dur, width) {
  const want = dur / Math.max(2, Math.floor(width / 70));
  for (const s of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]) if (s >= want) return s;
  return 3600 * Math.ceil(want / 3600);
}
function svgEl(name, attrs) {
  const el = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}
function drawTimeline() {
  const svg = $("timeline");
  svg.replaceChildren();
  if (!last) return;
  const W = svg.clientWidth || 600, H = (svg.clientHeight || 178) - 28, top = 8, curveH = 70;
  const left = 46, dur = last.duration, xs = (t) => left + (t / dur) * (W - left - 4);
  const best = last.timeline.best, lo = Math.min(...best), hi = Math.max(...best);
  const ys = (v) => top + curveH - ((v - lo) / Math.max(hi - lo, 1e-9)) * curveH;
  const pts = last.timeline.times.map((t, i) => xs(t).toFixed(1) + "," + ys(best[i]).toFixed(1));
  // score axis: the lowest and highest score, with enough digits to differ
  const yt = scoreTexts(hi > lo ? [lo, hi] : [hi]);
  (hi > lo ? [lo, hi] : [hi]).forEach((v, i) => {
    const label = svgEl("text", {x: left - 4, y: ys(v) + 3, "text-anchor": "end"});
    label.textContent = yt[i];
    svg.appendChild(label);
    svg.appendChild(svgEl("line", {x1: left - 2, x2: W - 4, y1: ys(v), y2: ys(v), stroke: "#ddd"}));
  });
  svg.appendChild(svgEl("polyline", {points: pts.join(" "), fill: "none", stroke: "#2a6fb0",
                                      "stroke-width": 2}));
  // time axis: ticks in seconds under the lanes
  const axisY = H + 4, step = niceStep(dur, W - left);
  svg.appendChild(svgEl("line", {x1: left, x2: W - 4, y1: axisY, y2: axisY, stroke: "#888"}));
  for (let t = 0; t <= dur + 1e-9; t += step) {
    svg.appendChild(svgEl("line", {x1: xs(t), x2: xs(t), y1: axisY, y2: axisY + 4, stroke: "#888"}));
    const anchor = t === 0 ? "start" : t + step > dur + 1e-9 ? "end" : "middle";
    const label = svgEl("text", {x: xs(t), y: axisY + 15, "text-anchor": anchor, class: "tick"});
    label.textContent = fmt(t);
    svg.appendChild(label);
  }
  const laneH = (H - curveH - top - 12) / Math.max(last.moments.length, 1);
  last.moments.forEach((m, i) => {
    const y = top + curveH + 8 + i * laneH;
    const r = svgEl("rect", {x: xs(m.start), y: y, width: Math.max(xs(m.end) - xs(m.start), 2),
                             height: Math.max(laneH - 3, 2), fill: "#f08a24",
                             "fill-opacity": i === 0 ? 1 : 0.55, rx: 2});
    r.dataset.start = m.start;
    const title = svgEl("title", {});
    title.textContent = "#" + m.rank + " " + fmt(m.start) + " - " + fmt(m.end);
    r.appendChild(title);
    r.addEventListener("click", (e) => { e.stopPropagation(); seek(m.start); });
    svg.appendChild(r);
  });
  svg.appendChild(svgEl("line", {id: "playhead", x1: left, x2: left, y1: 0, y2: H, stroke: "#c00",
                                  "stroke-width": 1.5}));
  movePlayhead();
}
function timelineX(t) {
  const W = $("timeline").clientWidth || 600, left = 46;
  return left + (t / last.duration) * (W - left - 4);
}
function movePlayhead() {
  const ph = document.getElementById("playhead");
  if (!ph || !last) return;
  const x = timelineX(player.currentTime);
  ph.setAttribute("x1", x); ph.setAttribute("x2", x);
}
$("timeline").addEventListener("click", (e) => {
  if (!last) return;
  const box = e.currentTarget.getBoundingClientRect(), left = 46;
  const t = ((e.clientX - box.left - left) / Math.max(box.width - left - 4, 1)) * last.duration;
  seek(Math.min(Math.max(t, 0), last.duration));
});
player.addEventListener("timeupdate", movePlayhead);
window.addEventListener("resize", drawTimeline);

function showResults(data) {
  last = data;
  const ol = $("results");
  ol.replaceChildren();
  const texts = scoreTexts(data.moments.map((m) => m.score));
  data.moments.forEach((m, i) => { m.scoreText = texts[i]; });
  for (const m of data.moments) {
    const li = document.createElement("li");
    li.dataset.start = m.start; li.dataset.end = m.end;
    const what = document.createElement("span");
    what.textContent = "#" + m.rank + "  " + fmt(m.start) + " \\u2013 " + fmt(m.end);
    const score = document.createElement("span");
    score.className = "score"; score.textContent = m.scoreText;
    li.append(what, score);
    li.addEventListener("click", () => seek(m.start, li));
    ol.appendChild(li);
  }
  drawTimeline();
  const warn = data.warnings.length ? "  Warning: " + data.warnings.join(" ") : "";
  setStatus(data.moments.length + " moments in " + data.duration.toFixed(1) + " s of video (" +
            data.num_clips + " clips); moments lie on steps of " +
            (data.duration / data.grid).toFixed(2) + " s (duration / " + data.grid + ")." +
            warn, false);
}
async function loadVideos(selectId) {
  const r = await fetch("/api/videos");
  const data = await r.json();
  select.replaceChildren();
  for (const v of data.videos) {
    const o = document.createElement("option");
    o.value = v.id; o.textContent = v.name + (v.uploaded ? " (uploaded)" : "");
    o.dataset.url = v.url;
    select.appendChild(o);
  }
  if (selectId) select.value = selectId;
  if (!data.videos.length) setStatus("No videos yet: upload one.", false);
  pickVideo();
}
function pickVideo() {
  const o = select.selectedOptions[0];
  if (!o) return;
  if (player.dataset.id !== o.value) {
    player.src = o.dataset.url; player.dataset.id = o.value;
    last = null; $("results").replaceChildren(); drawTimeline();
  }
}
select.addEventListener("change", pickVideo);
$("upload").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  setStatus("Uploading " + file.name + " ...", false);
  const body = new FormData(); body.append("file", file);
  const r = await fetch("/api/upload", {method: "POST", body});
  const data = await r.json();
  if (!r.ok) { setStatus(data.error, true); return; }
  await loadVideos(data.id);
  setStatus("Uploaded " + data.name + ". Type a query.", false);
});
async function search() {
  const video = select.value, query = $("query").value;
  if (!video) { setStatus("Pick or upload a video first.", true); return; }
  document.body.dataset.state = "searching";
  $("go").disabled = true;
  setStatus("Searching (the first search on a video extracts its features) ...", false);
  try {
    const r = await fetch("/api/search", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({video, query, top_k: Number($("topk").value)})});
    const data = await r.json();
    if (!r.ok) { setStatus(data.error, true); document.body.dataset.state = "error"; return; }
    showResults(data);
    document.body.dataset.state = "done";
  } catch (err) {
    setStatus(String(err), true); document.body.dataset.state = "error";
  } finally {
    $("go").disabled = false;
  }
}
$("form").addEventListener("submit", (e) => { e.preventDefault(); search(); });

(async () => {
  const p = new URLSearchParams(location.search);
  await loadVideos(p.get("video"));
  if (p.get("q")) {
    $("query").value = p.get("q");
    await search();
    const first = document.querySelector("#results li");
    if (p.get("seek") && first) first.click();
  }
})();
</script>
</body>
</html>
"""
