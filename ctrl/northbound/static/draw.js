// The topology in SVG: sites, switches, links, hypervisors, the WAN and its GRE tunnels
// (drawn once), then what changes (switch states, links down, tunnels up, where each
// VM and client is, traffic, a path) on every update.

const NS = "http://www.w3.org/2000/svg";
const HOST_DY = 24;          // one VM or client under another
const SW = { w: 74, h: 30 }; // a switch's box
const HV = { w: 86, h: 24 }; // a hypervisor's
const HOST = { w: 80, h: 19 };

export function el(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

export function rate(pps) {
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(1)}M`;
  if (pps >= 1e3) return `${(pps / 1e3).toFixed(1)}k`;
  return `${Math.round(pps)}`;
}

function linkKey(a, b) {
  return `${a}|${b}`;
}

export class MapView {
  constructor(svg, topology, onHost) {
    this.svg = svg;
    this.topo = topology;
    this.onHost = onHost;
    this.switchAt = new Map(topology.switches.map((s) => [s.name, s]));
    this.hvAt = new Map(topology.hypervisors.map((h) => [h.name, h]));
    this.siteRects = new Map();
    this.switchNodes = new Map();
    this.linkNodes = new Map();
    this.hostNodes = new Map();
    this.hostPos = new Map();
    this.drawStatic();
  }

  drawStatic() {
    const t = this.topo;
    const g = (cls) => el("g", { class: cls }, this.svg);
    const sites = g("sites");
    this.wanLayer = g("wan");
    this.tunnelLayer = g("tunnels");
    const links = g("links");
    const attach = g("attach");
    this.pathLayer = g("path");
    const switches = g("switches");
    const hvs = g("hypervisors");
    this.hostLayer = g("hosts");
    for (const s of t.sites) {
      const r = el("rect", { x: s.x, y: s.y, width: s.w, height: s.h, rx: 10, class: "site" }, sites);
      el("text", { x: s.x + 10, y: s.y + 18, class: "site-name" }, sites, s.name);
      this.siteRects.set(s.name, r);
    }
    const gateways = t.switches.filter((s) => s.underlay);
    if (gateways.length > 1) {
      for (const s of gateways) {
        el("line", { x1: s.x, y1: s.y, x2: t.wan.x, y2: t.wan.y, class: "underlay" }, this.wanLayer);
      }
      el("ellipse", { cx: t.wan.x, cy: t.wan.y, rx: 48, ry: 18, class: "wan" }, this.wanLayer);
      el("text", { x: t.wan.x, y: t.wan.y + 4, class: "wan-name" }, this.wanLayer, "WAN");
    }
    for (const l of t.links) {
      const [a, b] = [this.switchAt.get(l.a.split(":")[0]), this.switchAt.get(l.b.split(":")[0])];
      const group = el("g", { class: "link", "data-link": linkKey(l.a, l.b) }, links);
      el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y }, group);
      el("title", {}, group, `${l.a} - ${l.b}`);
      const label = el("text", { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, class: "rate" }, group);
      this.linkNodes.set(linkKey(l.a, l.b), { group, label, a: l.a, b: l.b });
    }
    for (const h of t.hypervisors) {
      const s = this.switchAt.get(h.at.split(":")[0]);
      el("line", { x1: s.x, y1: s.y, x2: h.x, y2: h.y, class: "attach" }, attach);
      const group = el("g", { class: "hypervisor", "data-hypervisor": h.name }, hvs);
      el("rect", { x: h.x - HV.w / 2, y: h.y - HV.h / 2, width: HV.w, height: HV.h, rx: 4 }, group);
      el("text", { x: h.x, y: h.y + 4 }, group, h.name);
      el("title", {}, group, `hypervisor ${h.name} at ${h.at}`);
    }
    for (const s of t.switches) {
      const group = el("g", { class: "switch off", "data-switch": s.name }, switches);
      el("rect", { x: s.x - SW.w / 2, y: s.y - SW.h / 2, width: SW.w, height: SW.h, rx: 6 }, group);
      el("text", { x: s.x, y: s.y + 5, class: "name" }, group, s.name);
      const label = el("text", { x: s.x + SW.w / 2 + 4, y: s.y - SW.h / 2 + 2, class: "rate" }, group);
      const title = el("title", {}, group, s.name);
      this.switchNodes.set(s.name, { group, label, title });
    }
  }

  // Where a host is drawn: under its hypervisor, else under its switch.
  anchor(host) {
    const hv = host.hypervisor && this.hvAt.get(host.hypervisor);
    if (hv) return { x: hv.x, y: this.topo.hosts_y, key: hv.name };
    const s = this.switchAt.get((host.at || "").split(":")[0]);
    if (s) return { x: s.x, y: this.topo.hosts_y, key: host.at };
    return { x: 20, y: this.topo.hosts_y, key: "?" };
  }

  update(model) {
    for (const [name, node] of this.switchNodes) {
      const st = model.switches.get(name);
      const cls = !st || !st.connected ? "off" : st.in_sync ? "ok" : "bad";
      node.group.setAttribute("class", `switch ${cls}`);
      const state = !st || !st.connected ? "not connected" : st.in_sync ? "in sync" : "NOT in sync";
      node.title.textContent = `${name}: ${state}`;
      const tr = model.traffic?.switches?.[name];
      node.label.textContent = tr ? `${rate(tr.pps)}/s` : "";
    }
    const perLink = new Map((model.traffic?.links ?? []).map((l) => [linkKey(l.a, l.b), l]));
    for (const [key, node] of this.linkNodes) {
      node.group.classList.toggle("down", model.linksDown.has(key) ||
                                  model.linksDown.has(linkKey(node.b, node.a)));
      const tr = perLink.get(key);
      node.label.textContent = tr ? `${rate(tr.a_to_b?.pps ?? 0)} / ${rate(tr.b_to_a?.pps ?? 0)}` : "";
    }
    this.drawTunnels(model);
    this.drawHosts(model);
  }

  drawTunnels(model) {
    this.tunnelLayer.replaceChildren();
    const done = new Set();
    for (const pair of model.tunnelsUp) {
      const [a, b] = pair.split(">");
      const undirected = [a, b].sort().join(">");
      if (done.has(undirected)) continue;
      done.add(undirected);
      const [sa, sb] = [this.switchAt.get(a), this.switchAt.get(b)];
      if (!sa || !sb) continue;
      const w = this.topo.wan;
      const both = model.tunnelsUp.has(`${b}>${a}`);
      const group = el("g", { class: "tunnel", "data-tunnel": undirected }, this.tunnelLayer);
      el("path", { d: `M ${sa.x} ${sa.y} Q ${w.x} ${w.y - 40} ${sb.x} ${sb.y}` }, group);
      el("title", {}, group, `GRE tunnel ${a} ${both ? "<->" : "->"} ${b}`);
    }
  }

  drawHosts(model) {
    const stacks = new Map();
    const seen = new Set();
    const hosts = [...model.hosts.values()].sort((x, y) => x.name.localeCompare(y.name));
    let deepest = 0;
    for (const h of hosts) {
      const a = this.anchor(h);
      const depth = stacks.get(a.key) ?? 0;
      stacks.set(a.key, depth + 1);
      deepest = Math.max(deepest, depth + 1);
      const x = a.x - HOST.w / 2;
      const y = a.y + depth * HOST_DY;
      let node = this.hostNodes.get(h.mac);
      if (!node) {
        node = el("g", { class: `host ${h.role}`, tabindex: 0, role: "button" }, this.hostLayer);
        el("rect", { width: HOST.w, height: HOST.h, rx: 9 }, node);
        el("text", { x: HOST.w / 2, y: 13.5 }, node, h.name);
        el("title", {}, node);
        node.addEventListener("click", () => this.onHost(h.mac));
        node.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") this.onHost(h.mac);
        });
        this.hostNodes.set(h.mac, node);
      }
      node.dataset.host = h.name;
      node.dataset.mac = h.mac;
      node.dataset.at = h.hypervisor ?? h.at;
      node.dataset.port = h.at;
      node.dataset.movedAt = h.movedAt ?? "";
      node.classList.toggle("selected", model.selected === h.mac);
      node.querySelector("title").textContent =
        `${h.role} ${h.name} ${h.ip ?? ""} ${h.mac} at ${h.hypervisor ?? "?"} (${h.at})`;
      node.style.transform = `translate(${x}px, ${y}px)`;
      this.hostPos.set(h.mac, { x: a.x, y: y + HOST.h / 2, top: y });
      seen.add(h.mac);
    }
    for (const [mac, node] of this.hostNodes) {
      if (!seen.has(mac)) {
        node.remove();
        this.hostNodes.delete(mac);
      }
    }
    const bottom = this.topo.hosts_y + Math.max(1, deepest) * HOST_DY + 24;
    for (const [, r] of this.siteRects) r.setAttribute("height", bottom - Number(r.getAttribute("y")));
    this.svg.setAttribute("viewBox", `0 0 ${Math.max(this.topo.width, 300)} ${bottom + 10}`);
  }

  // The way from one host to another: {hops, tunnel, src, dst} (GET /api/v1/path).
  showPath(route) {
    this.pathLayer.replaceChildren();
    for (const node of this.linkNodes.values()) node.group.classList.remove("on-path");
    for (const node of this.svg.querySelectorAll(".tunnel")) node.classList.remove("on-path");
    if (!route) return;
    const points = [];
    const hostPoint = (mac) => this.hostPos.get(mac);
    const hvPoint = (at) => {
      const hv = this.topo.hypervisors.find((h) => h.at === at);
      return hv ? { x: hv.x, y: hv.y } : null;
    };
    const start = hostPoint(route.src.mac);
    if (start) points.push(start);
    const hv0 = hvPoint(route.src.at);
    if (hv0) points.push(hv0);
    route.hops.forEach((name, i) => {
      const s = this.switchAt.get(name);
      if (route.tunnel && name === route.tunnel.to && route.hops[i - 1] === route.tunnel.from) {
        points.push({ x: this.topo.wan.x, y: this.topo.wan.y, curve: true });
      }
      if (s) points.push({ x: s.x, y: s.y });
      const prev = route.hops[i - 1];
      if (prev) {
        for (const node of this.linkNodes.values()) {
          const ends = [node.a.split(":")[0], node.b.split(":")[0]];
          if (ends.includes(prev) && ends.includes(name)) node.group.classList.add("on-path");
        }
      }
    });
    const hv1 = hvPoint(route.dst.at);
    if (hv1) points.push(hv1);
    const end = hostPoint(route.dst.mac);
    if (end) points.push(end);
    if (route.tunnel) {
      const key = [route.tunnel.from, route.tunnel.to].sort().join(">");
      this.svg.querySelector(`.tunnel[data-tunnel="${key}"]`)?.classList.add("on-path");
    }
    const d = points.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
    el("path", { d, class: "route" }, this.pathLayer);
  }
}
