// The page's picture of the controller, folded from its feed: {kind, data} messages.
// No DOM here. A new kind of notice is one entry of HANDLERS; a kind without one is
// still listed in the event log, with its payload.

const LOG_KEEP = 200;
const MOVES_KEEP = 500;

export function createModel(topology) {
  const hypervisorAt = new Map(topology.hypervisors.map((h) => [h.at, h.name]));
  const names = new Map(topology.hosts.map((h) => [h.mac, h]));
  return {
    topology,
    hypervisorAt,          // "a1:2" -> "server1"
    names,                 // MAC -> declared VM or client
    hosts: new Map(),      // MAC -> {mac, name, role, ip, vnet, at, hypervisor, since, movedAt}
    switches: new Map(),   // name -> {connected, primary, in_sync, time}
    tunnelsUp: new Set(),  // "a1>b1"
    linksDown: new Set(),  // "a1:1|a2:1"
    moves: [],             // every migration and move, oldest first
    traffic: null,         // the last traffic sample
    placement: new Map(),  // VM name -> its last placement notice
    log: [],               // newest first: {time, kind, text}
    clock: { now: 0, at: performance.now() },   // the controller's clock, and when we heard it
    mayWrite: true,
    version: 0,            // changes with every message folded in
  };
}

// The controller's clock now (seconds), from the last time it told us.
export function controllerNow(model) {
  return model.clock.now + (performance.now() - model.clock.at) / 1000;
}

// A controller time (s) as a wall-clock Date.
export function wallClock(model, t) {
  return new Date(Date.now() - (controllerNow(model) - t) * 1000);
}

export function hostName(model, mac) {
  return model.names.get(mac)?.name ?? mac;
}

function setClock(model, now) {
  if (typeof now === "number") model.clock = { now, at: performance.now() };
}

function place(model, mac, at, time) {
  const declared = model.names.get(mac);
  const old = model.hosts.get(mac);
  const host = old ?? { mac, name: declared?.name ?? mac, role: declared?.role ?? "vm" };
  if (!old || old.at !== at) host.movedAt = Date.now();
  host.at = at;
  host.hypervisor = model.hypervisorAt.get(at) ?? null;
  host.since = time;
  model.hosts.set(mac, host);
  return host;
}

function recordKey(d) {
  return `${d.vnet}/${d.mac}/${d.announced}`;
}

function addMove(model, move) {
  model.moves.push(move);
  if (model.moves.length > MOVES_KEEP) model.moves.splice(0, model.moves.length - MOVES_KEEP);
  return move;
}

function lastMove(model, mac, test) {
  for (let i = model.moves.length - 1; i >= 0; i--) {
    const m = model.moves[i];
    if (m.mac === mac && test(m)) return m;
  }
  return null;
}

export const HANDLERS = {
  "host-learned": (model, d) => {
    const h = place(model, d.mac, d.at, d.time);
    if (d.ip) h.ip = d.ip;
    h.vnet = d.vnet;
    return `${h.name} learned at ${d.at}${d.ip ? ` (${d.ip})` : ""}`;
  },
  "host-moved": (model, d) => {
    place(model, d.mac, d.to, d.time);
    const flight = lastMove(model, d.mac, (m) => m.key && m.to === d.to && m.moved === undefined);
    if (flight) {
      flight.moved = d.time;
      flight.cause = d.cause;
    } else {
      addMove(model, { mac: d.mac, from: d.from, to: d.to, kind: "reactive", start: d.time,
                       moved: d.time, cause: d.cause, phases: {} });
    }
    return `${hostName(model, d.mac)} moved ${d.from} -> ${d.to} (${d.cause})`;
  },
  migration: (model, d) => {
    const key = recordKey(d);
    let m = model.moves.find((x) => x.key === key);
    if (!m) {
      m = addMove(model, { key, mac: d.mac, from: d.from, to: d.to, kind: "announced",
                           start: d.announced, phases: { announced: d.announced } });
    }
    m.phases[d.phase] = d.time;
    m.phase = d.phase;
    m.note = d.note;
    return `${hostName(model, d.mac)}: migration ${d.from} -> ${d.to} ${d.phase}` +
      (d.note ? ` (${d.note})` : "");
  },
  converged: (model, d) => {
    const m = lastMove(model, d.mac, (x) => x.to === d.at && x.converged === undefined);
    if (m) m.converged = { ms: d.ms, writes: d.writes, ok: d.converged, failed: d.failed };
    return `${hostName(model, d.mac)} at ${d.at}: ${d.writes} writes ` +
      (d.converged ? `done in ${d.ms.toFixed(1)} ms` : `NOT taken by ${d.failed.join(", ")}`);
  },
  tunnels: (model, d) => {
    model.tunnelsUp = new Set(d.up.map(([a, b]) => `${a}>${b}`));
    return `GRE tunnels up: ${d.up.map(([a, b]) => `${a}->${b}`).join(", ") || "none"}`;
  },
  links: (model, d) => {
    model.linksDown = new Set(d.down.map(([a, b]) => `${a}|${b}`));
    return `links down: ${d.down.map(([a, b]) => `${a}-${b}`).join(", ") || "none"}`;
  },
  switch: (model, d) => {
    model.switches.set(d.switch, d);
    const state = !d.connected ? "not connected" : d.in_sync ? "in sync" : "connected, not in sync";
    return `${d.switch}: ${state}${d.connected && !d.primary ? " (not primary)" : ""}`;
  },
  placement: (model, d) => {
    model.placement.set(d.vm, d);
    const where = d.to && d.to !== d.at ? ` ${d.at ?? "?"} -> ${d.to}` : "";
    return `placement ${d.vm}: ${d.event} ${d.decision}${where} (${d.why})`;
  },
  traffic: (model, d) => {
    model.traffic = d;
    setClock(model, d.time);
    return null;
  },
  clock: (model, d) => {
    setClock(model, d.now);
    return null;
  },
};

function logLine(model, kind, time, text) {
  model.log.unshift({ kind, time, text });
  if (model.log.length > LOG_KEEP) model.log.length = LOG_KEEP;
}

// Fold one message in; `live`: it happened now (not a snapshot's replay).
export function apply(model, msg, live = true) {
  model.version++;
  const handler = HANDLERS[msg.kind];
  if (!handler) {
    logLine(model, msg.kind, msg.data?.time, `${msg.kind}: ${JSON.stringify(msg.data)}`);
    return;
  }
  const text = handler(model, msg.data ?? {});
  if (live && text) logLine(model, msg.kind, msg.data?.time, text);
}

// A snapshot: the state as it is, as notices; what the page knew of moves is kept.
export function applySnapshot(model, data) {
  setClock(model, data.now);
  model.mayWrite = data.may_write;
  model.hosts.clear();
  model.switches.clear();
  for (const n of data.notices) apply(model, n, false);
  logLine(model, "snapshot", data.now,
          `connected: ${model.hosts.size} hosts, ${model.switches.size} switches`);
}
