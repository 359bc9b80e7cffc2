// The live view: the topology from /api/v1/topology, then the controller's feed
// (/api/v1/events, server-sent events) folded into the picture as it comes.

import { getJSON } from "./api.js";
import { MapView } from "./draw.js";
import { apply, applySnapshot, createModel, wallClock, controllerNow } from "./model.js";
import { Panel, renderLog } from "./panel.js";
import { WINDOWS_S, renderTable, renderTimeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const status = $("status");

function say(text, cls) {
  status.textContent = text;
  status.className = `status ${cls}`;
}

async function main() {
  const topology = await getJSON("/api/v1/topology");
  const model = createModel(topology);
  let panel = null;
  const map = new MapView($("map"), topology, (mac) => panel.select(mac));
  panel = new Panel(model, map, { tokenNeeded: topology.token_needed });
  const span = $("window");
  span.replaceChildren(...WINDOWS_S.map((s) => new Option(s < 60 ? `${s} s` : `${s / 60} min`, s)));
  span.value = "60";
  const timeline = () => renderTimeline($("timeline"), model, Number(span.value));
  span.addEventListener("change", timeline);

  let pending = false;
  const render = () => {
    if (!pending) return;
    pending = false;
    map.update(model);
    panel.render();
    timeline();
    renderTable($("migration-table").tBodies[0], model);
    renderLog($("log"), model);
    $("role").textContent = model.mayWrite ? "" :
      "standby: it changes nothing (the primary does)";
    document.body.dataset.version = String(model.version);
  };
  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(render);
    setTimeout(render, 200);   // a tab in the background gets no animation frames
  };

  let source = null;
  const connect = () => {
    source = new EventSource("/api/v1/events");
    source.onopen = () => say("live", "live");
    source.onerror = () => say("reconnecting", "connecting");
    source.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.kind === "snapshot") {
        applySnapshot(model, msg.data);
        document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots ?? 0) + 1);
      } else if (msg.kind === "lost") {
        // The page fell behind and the controller let it go: start again from a snapshot.
        say("catching up", "connecting");
        source.close();
        setTimeout(connect, 100);
      } else {
        apply(model, msg);
      }
      schedule();
    };
  };
  connect();
  setInterval(() => {
    $("clock").textContent = wallClock(model, controllerNow(model)).toLocaleTimeString();
    timeline();
  }, 1000);
  window.addEventListener("beforeunload", () => source?.close());
}

main().catch((err) => {
  say(`cannot start: ${err.message}`, "error");
  throw err;
});
