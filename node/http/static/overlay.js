// The OBS browser-source overlay: both DJs' live figures, scores, chat ticker and reactions.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const query = location.search || "";

  function render(snap) {
    const battle = snap.battle;
    document.body.dataset.phase = battle ? battle.phase : "none";
    $("title").textContent = battle ? `${battle.title} · ${battle.genre} ${battle.bpm_min}–${battle.bpm_max} BPM` : snap.djs.length ? "live" : snap.error || "waiting for a battle…";
    $("phase").textContent = djmesh.phaseText(battle);
    $("clock").textContent = djmesh.clockText(battle);
    for (let i = 0; i < 2; i++) djmesh.renderDj($(`dj-${i}`), snap.djs[i]);
    djmesh.renderScores($("scores"), snap.djs, battle);
    $("scores-note").textContent = battle && snap.djs.some((d) => Object.keys(d.scores || {}).length) ? (battle.scores_final ? "agreed scores" : `verdicts so far (${battle.reveals}/${battle.quorum})`) : "";
    const votes = snap.reactions.votes;
    $("versus").classList.toggle("empty", !$("scores").childElementCount && !(votes.a + votes.b) && !(battle && battle.winner));
    $("votes").textContent = votes.a + votes.b ? `crowd votes A ${votes.a} · B ${votes.b}` : "";
    $("winner").textContent = battle && battle.winner ? `${battle.winner_name || `DJ ${battle.winner.toUpperCase()}`} wins` : "";
    const chat = snap.chat.map((line) => `${line.name}: ${line.text}`).join("   ·   ");
    $("chat").textContent = chat;
    $("ticker").classList.toggle("empty", !chat);
    const reactions = $("reactions");
    reactions.replaceChildren(
      ...Object.entries(snap.reactions.counts).map(([emoji, count]) => {
        const item = djmesh.el("span", "reaction", `${emoji} ${count}`);
        item.dataset.emoji = emoji;
        return item;
      })
    );
  }

  function connection(ok) {
    const badge = $("connection");
    badge.className = ok ? "online" : "offline";
    badge.textContent = ok ? "" : "reconnecting…";
  }

  djmesh.follow(query, render, connection);
})();
