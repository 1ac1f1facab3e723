// The Trellis console's one script: live inbox updates (Server-Sent Events), copy buttons and
// the severity score as it is typed. Served by the node; no inline script anywhere (CSP).
"use strict";

function liveInbox() {
  const table = document.getElementById("inbox");
  const body = document.getElementById("inbox-rows");
  if (!table || !body || !window.EventSource) return;
  const status = document.getElementById("live-status");
  const source = new EventSource(table.dataset.events);
  source.addEventListener("advisory", (ev) => {
    let r;
    try { r = JSON.parse(ev.data); } catch (e) { return; }
    if (!r || typeof r.id !== "string" || document.getElementById("adv-" + r.id)) return;
    const tr = document.createElement("tr");
    tr.id = "adv-" + r.id;
    tr.dataset.id = r.id;
    tr.className = "new";
    const cell = (child) => { const td = document.createElement("td"); if (child) td.appendChild(child); tr.appendChild(td); return td; };
    const label = document.createElement("span");
    label.className = "tlp " + (/^tlp-[a-z]+$/.test(r.tlp.class) ? r.tlp.class : "tlp-unknown");
    label.textContent = r.tlp.label;
    cell(label);
    const link = document.createElement("a");
    link.href = "/advisory/" + encodeURIComponent(r.id);
    link.textContent = r.title;
    const titleCell = cell(link);
    if (r.affects_me) {
      const b = document.createElement("span");
      b.className = "badge affects";
      b.textContent = "affects me";
      titleCell.append(" ", b);
    }
    for (const v of [r.severity, r.confidence, r.group, r.publisher]) { cell().textContent = v; }
    const t = document.createElement("time");
    t.textContent = r.received;
    cell(t);
    body.insertBefore(tr, body.firstChild);
    const empty = document.getElementById("inbox-empty");
    if (empty) empty.remove();
    if (status) status.textContent = "New advisory: " + r.tlp.label + " " + r.title;
  });
  source.addEventListener("affects", (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    const tr = m && typeof m.id === "string" ? document.getElementById("adv-" + m.id) : null;
    if (!tr || tr.querySelector(".badge.affects")) return;
    const b = document.createElement("span");
    b.className = "badge affects";
    b.textContent = "affects me";
    tr.children[1].append(" ", b);
  });
  source.addEventListener("error", () => {
    if (status) status.textContent = "Live updates paused; reconnecting…";
  });
  source.addEventListener("open", () => {
    if (status) status.textContent = "New advisories appear at the top as they arrive.";
  });
}

function copyButtons() {
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.addEventListener("click", async () => {
      const el = document.getElementById(b.dataset.copy);
      if (!el) return;
      const before = b.textContent;
      try {
        await navigator.clipboard.writeText(el.value || el.textContent);
        b.textContent = "Copied";
      } catch (e) {
        el.select();
        b.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(() => { b.textContent = before; }, 2500);
    });
  }
}

function severityScore() {
  const input = document.getElementById("p-severity");
  const out = document.getElementById("p-score");
  if (!input || !out) return;
  let timer = null;
  const update = async () => {
    const v = input.value.trim();
    out.classList.remove("bad");
    if (!v) { out.textContent = ""; return; }
    try {
      const resp = await fetch("/cvss?vector=" + encodeURIComponent(v), { credentials: "same-origin" });
      const j = await resp.json();
      if (input.value.trim() !== v) return;
      if (j.error) { out.classList.add("bad"); out.textContent = j.error; }
      else if (j.score) { out.textContent = "Score " + j.score + " (" + j.rating.toLowerCase() + ")"; }
    } catch (e) { /* the score shows again on the next keystroke */ }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 250); });
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  liveInbox();
  copyButtons();
  severityScore();
});
