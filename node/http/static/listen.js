// The browser listener: play a live stream over WebRTC from the node, with its figures and scores.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const streamId = location.pathname.split("/").filter(Boolean).pop();
  let pc = null;

  function setStatus(state, text) {
    const status = $("status");
    status.dataset.state = state;
    status.textContent = text;
  }

  function iceGatheringDone(peer, waitMs) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, waitMs); // do not wait forever for a slow or unreachable server
    });
  }

  // The node's STUN/TURN servers (config.toml [webrtc]); none: a direct connection (same machine or LAN).
  async function iceServers() {
    try {
      const response = await fetch("/api/webrtc");
      return response.ok ? (await response.json()).ice_servers || [] : [];
    } catch (error) {
      return [];
    }
  }

  function showIce(peer) {
    const servers = peer.getConfiguration().iceServers || [];
    const urls = servers.flatMap((server) => [].concat(server.urls));
    const line = $("ice");
    line.dataset.urls = JSON.stringify(urls);
    line.textContent = urls.length ? `via STUN/TURN: ${urls.join(", ")}` : "direct connection (no STUN/TURN servers configured)";
  }

  async function connect() {
    if (pc) pc.close();
    setStatus("connecting", "connecting…");
    const servers = await iceServers();
    pc = new RTCPeerConnection({ iceServers: servers });
    const peer = pc;
    showIce(pc);
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (event) => {
      $("audio").srcObject = event.streams[0] || new MediaStream([event.track]);
      $("audio").play().then(() => { $("play").hidden = true; }).catch(() => { $("play").hidden = false; });
    };
    pc.onconnectionstatechange = () => {
      if (peer !== pc) return;
      const state = pc.connectionState;
      setStatus(state, state === "connected" ? "playing live" : state);
    };
    await pc.setLocalDescription(await pc.createOffer());
    // host candidates are enough on a LAN; reflexive and relay ones take a server round trip
    await iceGatheringDone(pc, servers.length ? 5000 : 2000);
    const response = await fetch(`/api/listen/${streamId}/offer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }),
    });
    const answer = await response.json();
    if (!response.ok) {
      setStatus("error", answer.error || `error ${response.status}`);
      pc.close();
      return;
    }
    await pc.setRemoteDescription(answer);
  }

  async function readStats() {
    if (!pc) return;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        const stats = $("stats");
        stats.dataset.packets = String(s.packetsReceived || 0);
        stats.dataset.bytes = String(s.bytesReceived || 0);
        stats.dataset.lost = String(s.packetsLost || 0);
        stats.dataset.samples = String(s.totalSamplesReceived || 0);
        stats.dataset.concealed = String(s.concealedSamples || 0);
        stats.dataset.energy = String(s.totalAudioEnergy || 0);
        stats.textContent = `${s.packetsReceived || 0} audio packets received, ${s.packetsLost || 0} lost, jitter ${((s.jitter || 0) * 1000).toFixed(1)} ms`;
      }
    });
  }

  function render(snap) {
    const stream = snap.stream;
    if (stream) {
      $("title").textContent = stream.title || "djmesh · listen";
      $("who").textContent = `${stream.name} · ${stream.live ? "live" : "ended"} · ${Math.round(stream.bitrate / 1000)} kbit/s`;
    } else if (snap.error) {
      $("who").textContent = snap.error;
    }
    const own = snap.djs.find((dj) => dj.stream === streamId);
    const mine = own || (stream ? { ...stream.figures, side: null, name: stream.name, stream: streamId, tracks: 0, track_title: "" } : null);
    djmesh.renderDj($("figures"), mine);
    const battle = snap.battle;
    $("battle-box").hidden = !battle;
    if (battle) {
      $("battle-title").textContent = battle.title;
      $("phase").textContent = djmesh.phaseText(battle);
      $("clock").textContent = djmesh.clockText(battle);
      $("winner").textContent = battle.winner ? `winner: ${battle.winner_name || battle.winner.toUpperCase()}` : "";
      djmesh.renderScores($("scores"), snap.djs, battle);
      const votes = snap.reactions.votes;
      $("votes").textContent = `crowd votes A ${votes.a} · B ${votes.b}`;
    }
  }

  $("play").addEventListener("click", () => {
    $("audio").play().catch(() => {});
    if (!pc || pc.connectionState === "failed" || pc.connectionState === "closed") connect().catch((e) => setStatus("error", String(e)));
    $("play").hidden = true;
  });
  connect().catch((error) => setStatus("error", String(error)));
  setInterval(() => { readStats().catch(() => {}); }, 500);
  djmesh.follow(`?stream=${streamId}`, render, () => {});
})();
