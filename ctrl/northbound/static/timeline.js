// Migrations over time: a lane per VM (announced -> switched over -> seen at the new
// place -> done), and a table with each one's breakdown.

import { controllerNow, hostName, wallClock } from "./model.js";
import { el } from "./draw.js";

export const WINDOWS_S = [10, 60, 300];   // the time spans the page offers
const LANE = 26;
const LEFT = 110;
const WIDTH = 1000;

function ms(a, b) {
  return a === undefined || b === undefined ? "" : `${((b - a) * 1000).toFixed(1)} ms`;
}

function where(model, at) {
  const hv = model.hypervisorAt.get(at);
  return hv ? `${hv} (${at})` : at;
}

function end(m) {
  const p = m.phases;
  return p.done ?? p.cancelled ?? p.expired ?? m.moved;
}

// When the VM was seen at its new place: an announced migration's RARP ended it, a
// reactive move is a sighting.
function seen(m) {
  if (m.kind === "reactive") return m.moved;
  return m.phase === "done" && m.note === "seen at its destination" ? m.phases.done : undefined;
}

export function renderTimeline(svg, model, span) {
  const now = controllerNow(model);
  const from = now - span;
  const x = (t) => LEFT + ((t - from) / span) * (WIDTH - LEFT - 10);
  const shown = model.moves.filter((m) => (end(m) ?? now) >= from);
  const lanes = [...new Set(shown.map((m) => hostName(model, m.mac)))].sort();
  const height = 30 + Math.max(1, lanes.length) * LANE;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);
  const step = span / 6;
  for (let s = 0; s <= span; s += step) {
    const tx = x(now - span + s);
    el("line", { x1: tx, y1: 14, x2: tx, y2: height, class: "grid" }, svg);
    el("text", { x: tx, y: 10, class: "tick" }, svg,
       s === span ? "now" : `-${+(span - s).toFixed(1)} s`);
  }
  if (!lanes.length) {
    el("text", { x: LEFT, y: 40, class: "empty" }, svg, "no migration in this window");
    return;
  }
  lanes.forEach((name, i) => {
    el("text", { x: 6, y: 30 + i * LANE + 12, class: "lane" }, svg, name);
  });
  for (const m of shown) {
    const y = 30 + lanes.indexOf(hostName(model, m.mac)) * LANE;
    const t0 = Math.max(from, m.start);
    const t1 = end(m) ?? now;
    const g = el("g", { class: `move kind-${m.kind} phase-${m.phase ?? "moved"}`,
                        "data-vm": hostName(model, m.mac) }, svg);
    el("rect", { x: x(t0), y: y + 3, width: Math.max(3, x(t1) - x(t0)), height: LANE - 8, rx: 3 }, g);
    const p = m.phases;
    if (p["switched-over"] !== undefined) {
      el("line", { x1: x(p["switched-over"]), y1: y, x2: x(p["switched-over"]), y2: y + LANE - 2,
                   class: "switched" }, g);
    }
    const there = seen(m);
    if (there !== undefined) el("circle", { cx: x(there), cy: y + LANE / 2 - 1, r: 4, class: "seen" }, g);
    const conv = m.converged ? `, writes ${m.converged.ms.toFixed(1)} ms` : "";
    el("title", {}, g, `${hostName(model, m.mac)} ${where(model, m.from)} -> ${where(model, m.to)}: ` +
       `${m.kind}, ${m.phase ?? "moved"}${conv}`);
  }
}

export function renderTable(tbody, model) {
  const rows = [...model.moves].reverse().map((m) => {
    const p = m.phases;
    const cells = [
      wallClock(model, m.start).toLocaleTimeString(),
      hostName(model, m.mac),
      where(model, m.from),
      where(model, m.to),
      m.kind,
      m.phase ?? "moved",
      ms(p.announced, p["switched-over"]),
      m.kind === "reactive" ? "" : ms(p["switched-over"] ?? p.announced, seen(m)),
      m.converged ? `${m.converged.ms.toFixed(1)} ms (${m.converged.writes} writes)` +
        (m.converged.ok ? "" : `, NOT taken by ${m.converged.failed.join(", ")}`) : "",
      m.note ?? "",
    ];
    const tr = document.createElement("tr");
    tr.dataset.vm = cells[1];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    return tr;
  });
  tbody.replaceChildren(...rows);
}
