// The side panel: the selected host and its path to a peer, the migrate form, the
// switches; and the event log.

import { ApiError, change, getJSON, setToken, token } from "./api.js";
import { rate } from "./draw.js";
import { hostName, wallClock } from "./model.js";

const $ = (id) => document.getElementById(id);

// A select's options, remade only when they changed (an open list stays open).
function options(select, items, keep) {
  const before = keep ?? select.value;
  const same = select.options.length === items.length &&
    items.every(([v, l], i) => select.options[i].value === v && select.options[i].text === l);
  if (!same) select.replaceChildren(...items.map(([value, label]) => new Option(label, value)));
  if (items.some(([v]) => v === before) && select.value !== before) select.value = before;
}

// Ask for the API token in the page's dialog; resolves to the token or null.
export function askToken(why) {
  const dialog = $("token-dialog");
  $("token-why").textContent = why;
  $("token-input").value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "forget") setToken(null);
      const value = $("token-input").value.trim();
      resolve(dialog.returnValue === "ok" && value ? value : null);
    }, { once: true });
    dialog.showModal();
  });
}

export class Panel {
  constructor(model, map, info) {
    this.model = model;
    this.map = map;
    this.info = info;           // {tokenNeeded}
    this.peer = null;
    $("peer").addEventListener("change", () => this.showPath());
    $("migrate-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.migrate();
    });
    $("token-button").addEventListener("click", async () => {
      const given = await askToken(token() ? "A token is kept for this tab; give another, or forget it."
                                            : "Give the API token this controller asks for.");
      if (given) setToken(given);
      this.showToken();
    });
    const hvs = model.topology.hypervisors.map((h) => [h.name, `${h.name} (${h.at})`]);
    options($("mig-to"), hvs);
    this.showToken();
  }

  showToken() {
    $("token-button").textContent = token() ? "API token: kept" :
      this.info.tokenNeeded ? "API token: needed for changes" : "API token";
  }

  select(mac) {
    this.model.selected = mac;
    const vms = [...this.model.hosts.values()].filter((h) => h.role === "vm");
    if (vms.some((h) => h.mac === mac)) $("mig-vm").value = hostName(this.model, mac);
    this.render();
    this.showPath();
  }

  async showPath() {
    const m = this.model;
    const src = m.hosts.get(m.selected);
    const dst = m.hosts.get($("peer").value);
    if (!src || !dst) {
      this.map.showPath(null);
      $("path-info").textContent = "";
      return;
    }
    const at = `${src.at}>${dst.at}`;
    try {
      const route = await getJSON(`/api/v1/path?src=${encodeURIComponent(src.mac)}` +
                                  `&dst=${encodeURIComponent(dst.mac)}`);
      this.map.showPath(route);
      this.shownPath = at;
      const tunnel = route.tunnel ? `; GRE tunnel ${route.tunnel.from} -> ${route.tunnel.to}` +
        (route.tunnel.up ? "" : " (down: it comes up with the first frame)") : "";
      $("path-info").textContent = `${route.hops.join(" -> ")} (${route.hops.length - 1} link${route.hops.length === 2 ? "" : "s"}` +
        `${route.tunnel ? " and the WAN" : ""})${tunnel}`;
    } catch (err) {
      this.map.showPath(null);
      this.shownPath = at;
      $("path-info").textContent = `no path: ${err.message}`;
    }
  }

  async migrate() {
    const vm = $("mig-vm").value;
    const to = $("mig-to").value;
    const result = $("mig-result");
    result.className = "";
    result.textContent = `asking the controller to migrate ${vm} to ${to}...`;
    $("mig-go").disabled = true;
    try {
      const { data } = await change("POST", "/api/v1/migrate",
                                    { vm, to, libvirt: $("mig-libvirt").checked },
                                    { tokenNeeded: this.info.tokenNeeded, askToken });
      result.className = "ok";
      result.textContent = `${vm}: ${data.status}` +
        (Object.keys(data.not_written ?? {}).length ?
          `; NOT written to ${Object.keys(data.not_written).join(", ")}` : "");
    } catch (err) {
      result.className = "error";
      result.textContent = err instanceof ApiError ? `refused (${err.status}): ${err.message}`
                                                   : `failed: ${err.message}`;
    } finally {
      $("mig-go").disabled = false;
      this.showToken();
    }
  }

  render() {
    const m = this.model;
    const hosts = [...m.hosts.values()].sort((a, b) => a.name.localeCompare(b.name));
    options($("mig-vm"), hosts.filter((h) => h.role === "vm").map((h) => [h.name, h.name]));
    const sel = m.hosts.get(m.selected);
    $("selected-none").hidden = Boolean(sel);
    $("selected-info").hidden = !sel;
    if (sel) {
      $("sel-name").textContent = sel.name;
      $("sel-detail").textContent = `${sel.role} ${sel.ip ?? ""} ${sel.mac}, at ` +
        `${sel.hypervisor ?? "?"} (${sel.at})`;
      const placed = m.placement.get(sel.name);
      $("sel-placement").hidden = !placed;
      $("sel-placement").textContent = placed ?
        `placement: ${placed.decision}${placed.to ? ` -> ${placed.to}` : ""} (${placed.why})` : "";
      const peers = hosts.filter((h) => h.mac !== sel.mac);
      const preferred = peers.find((h) => h.role !== sel.role) ?? peers[0];
      options($("peer"), peers.map((h) => [h.mac, `${h.name} (${h.role})`]),
              $("peer").value || preferred?.mac);
      // Where either end moved, the path is asked for again.
      const dst = m.hosts.get($("peer").value);
      if (dst && this.shownPath !== undefined && this.shownPath !== `${sel.at}>${dst.at}`) {
        this.shownPath = undefined;
        this.showPath();
      }
    }
    this.renderSwitches();
  }

  renderSwitches() {
    const m = this.model;
    const rows = m.topology.switches.map((s) => {
      const st = m.switches.get(s.name);
      const state = !st || !st.connected ? "not connected" : st.in_sync ? "in sync" :
        "connected, NOT in sync";
      const tr = document.createElement("tr");
      tr.className = !st || !st.connected ? "off" : st.in_sync ? "ok" : "bad";
      const tr_ = m.traffic?.switches?.[s.name];
      for (const c of [s.name, s.site, state, tr_ ? rate(tr_.pps) : ""]) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.appendChild(td);
      }
      return tr;
    });
    $("switch-table").tBodies[0].replaceChildren(...rows);
  }
}

export function renderLog(list, model) {
  const items = model.log.slice(0, 100).map((e) => {
    const li = document.createElement("li");
    li.className = `kind-${e.kind}`;
    const when = typeof e.time === "number" ? wallClock(model, e.time).toLocaleTimeString() : "";
    li.textContent = `${when} ${e.text}`;
    return li;
  });
  list.replaceChildren(...items);
}
