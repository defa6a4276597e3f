// Shared by the overlay and the listener page: draw one DJ's live figures, follow the node's events.
"use strict";

const djmesh = (() => {
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function bpmText(bpm) {
    return typeof bpm === "number" ? bpm.toFixed(1) : "–";
  }

  function keyText(dj) {
    if (!dj.key) return "–";
    return dj.camelot ? `${dj.key} · ${dj.camelot}` : dj.key;
  }

  // Level in dBFS to a 0..100 % bar (-60 dB is empty).
  function levelPercent(db) {
    return Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
  }

  function renderDj(section, dj) {
    section.replaceChildren();
    if (!dj) {
      section.classList.add("empty");
      return;
    }
    section.classList.remove("empty");
    section.dataset.side = dj.side || "";
    section.dataset.stream = dj.stream || "";
    section.classList.toggle("streaming", !!dj.streaming);
    const head = el("div", "dj-head");
    head.append(el("span", "side", dj.side ? `DJ ${dj.side.toUpperCase()}` : "LIVE"), el("span", "name", dj.name));
    if (dj.tier) {
      const tier = el("span", "tier", `${dj.tier} ${Math.round(dj.rating)}`);
      tier.dataset.tier = dj.tier;
      tier.title = `${dj.wins}W ${dj.losses}L ${dj.draws}D in this genre`;
      head.append(tier);
    }
    const bpm = el("div", "bpm", bpmText(dj.bpm));
    bpm.dataset.value = typeof dj.bpm === "number" ? String(dj.bpm) : "";
    const unit = el("span", "unit", "BPM");
    const key = el("div", "key", keyText(dj));
    const meter = el("div", "level");
    const fill = el("div", "fill");
    fill.style.width = `${levelPercent(dj.level_db)}%`;
    meter.append(fill);
    const beat = el("span", "beat");
    if (dj.beat) beat.classList.add("on");
    const track = el("div", "track", dj.tracks ? `track ${dj.track}/${dj.tracks} ${dj.track_title}` : dj.track_title || "");
    const state = el("div", "state", dj.error ? `stream lost: ${dj.error}` : dj.streaming ? "live" : dj.stream ? "waiting for audio" : "not on yet");
    section.append(head, el("div", "bpm-line"), key, meter, track, state);
    section.querySelector(".bpm-line").append(bpm, unit, beat);
  }

  function renderScores(table, djs, battle) {
    table.replaceChildren();
    const hasScores = djs.some((dj) => dj && Object.keys(dj.scores || {}).length);
    if (!hasScores) return;
    const head = el("tr");
    head.append(el("th"), ...djs.map((dj) => el("th", null, dj.side ? dj.side.toUpperCase() : "")));
    table.append(head);
    const rows = Object.keys(djs.find((dj) => dj && Object.keys(dj.scores || {}).length).scores);
    for (const row of rows) {
      const tr = el("tr", row === "total" ? "total" : "");
      tr.append(el("td", null, row));
      for (const dj of djs) {
        const value = (dj.scores || {})[row];
        tr.append(el("td", "score", typeof value === "number" ? value.toFixed(2) : "–"));
      }
      table.append(tr);
    }
    if (battle && battle.winner) {
      const idx = djs.findIndex((dj) => dj.side === battle.winner);
      if (idx >= 0) table.querySelectorAll("tr.total td.score")[idx].classList.add("winner");
    }
  }

  // Server-sent events, with a polling fallback where EventSource is missing or keeps failing.
  function follow(query, onSnapshot, onConnection) {
    const events = `/api/events${query}`;
    let failures = 0;
    let polling = null;
    function poll() {
      fetch(`/api/overlay${query}`)
        .then((r) => r.json())
        .then((snap) => { onConnection(true); onSnapshot(snap); })
        .catch(() => onConnection(false));
    }
    if (!("EventSource" in window)) {
      polling = setInterval(poll, 1000);
      return;
    }
    const source = new EventSource(events);
    source.addEventListener("overlay", (event) => {
      failures = 0;
      onConnection(true);
      onSnapshot(JSON.parse(event.data));
    });
    source.onerror = () => {
      onConnection(false);
      failures += 1;
      if (failures > 5 && polling === null) {
        source.close();
        polling = setInterval(poll, 1000);
      }
    };
  }

  function phaseText(battle) {
    if (!battle) return "";
    const names = { announced: "announced", accepted: "starting soon", sets: "LIVE", commit: "judging", reveal: "judging", done: "result", cancelled: "cancelled" };
    return names[battle.phase] || battle.phase;
  }

  function clockText(battle) {
    if (!battle || battle.seconds_left === null || battle.seconds_left === undefined) return "";
    const s = battle.seconds_left;
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  return { el, renderDj, renderScores, follow, phaseText, clockText, bpmText, keyText };
})();
