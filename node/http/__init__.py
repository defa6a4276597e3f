"""The node's local web pages and JSON API (``--http ADDR`` on `djmesh node`, `demo --live`, `tui`).

Pages: ``/overlay`` (an OBS browser source: both DJs' live BPM, key, level, scores, the battle
chat ticker and reactions; ``?battle=ID`` pins a battle), ``/listen/STREAM_ID`` (plays a live
stream in the browser over WebRTC, with its figures and the battle's scores beside it) and
``/`` (the streams this node knows). Static files are package data under ``static/``.

Only this node's own pages and local tools may use it (``djmesh.node.http.guard``): a Host header
other than ``localhost``, an IP address or a name in config.toml's ``http_hosts`` gets 421 (DNS
rebinding); an ``/api`` request from another origin (``Origin``, ``Sec-Fetch-Site``) gets 403; a POST
that is not ``Content-Type: application/json`` gets 415, unless it carries the control token as
``X-Djmesh-Token``. At most ``http_max_event_streams`` (default 32) pages hold ``/api/events`` open;
more get 503.

JSON (``application/json``; errors are ``{"error": "..."}`` with a 4xx status):

- ``GET /api/status``: ``peer_id``, ``name``, ``listen_addrs``, ``peers``, ``url``, ``live``,
  ``battles``, ``browser_listeners``.
- ``GET /api/battles``, ``GET /api/battles/{battle_id}``: battles as the control API describes
  them (``djmesh.node.battle.view.battle_json``: ``battle_id``, ``title``, ``genre``, ``phase``,
  ``djs``, ``windows``, ``tracklists``, ``verdicts``, ``result``, ``role`` ...), latest first.
- ``GET /api/streams``, ``GET /api/streams/{stream_id}``: ``stream_id``, ``title``, ``dj``,
  ``started_at``, ``bitrate``, ``live``, ``local``, ``stored``, ``declared_bpm``, and ``figures``
  (``bpm``, ``key``, ``camelot``, ``level_db``, ``peak_db``, ``beat``, ``streaming``, ``error``;
  nulls where this node does not analyse the stream).
- ``GET /api/results?limit=N``: verified result bundles in the store, one per battle, newest
  first: ``battle_id``, ``title``, ``genre``, ``djs``, ``names`` (per side: display names),
  ``winner``, ``forfeit``, ``scores`` (points), ``committee``, ``quorum``, ``revealed``,
  ``offences``, ``model``, ``published_at``.
- ``GET /api/leaderboard?genre=``: ratings per genre from the verified results; rows ``peer``,
  ``name`` (display name), ``rank``, ``rating``, ``tier``, ``wins``, ``losses``, ``draws``,
  ``battles``, ``average_score``.
- ``GET /api/profiles/{peer_id}``: ``peer_id``, ``display_name``, the profile's ``name``, ``bio``,
  ``links``, ``updated_at`` (nulls without a profile) and ``record`` (``genres``: the leaderboard
  row per genre; ``rating``, ``tier``: the best genre's; ``wins``, ``losses``, ``draws``,
  ``battles``, ``average_score``).
- ``GET /api/webrtc``: ``ice_servers``, the STUN/TURN servers of config.toml's ``[webrtc]`` table
  as ``RTCIceServer`` dictionaries (``urls``, ``username``, ``credential``) for listener pages.
- ``GET /api/overlay?battle=&stream=``: what the pages draw: ``battle`` (``battle_id``,
  ``title``, ``genre``, ``bpm_min``, ``bpm_max``, ``phase``, ``deadline``, ``seconds_left``,
  ``committee_size``, ``quorum``, ``joined``, ``commits``, ``reveals``, ``winner``,
  ``winner_name``, ``forfeit``, ``scores_final``), ``djs`` (per side: ``side``, ``peer``, ``name``,
  ``rating``, ``tier``, ``wins``, ``losses``, ``draws`` in the battle's genre, ``stream``, the figures
  above, ``track``, ``tracks``, ``track_title``, ``scores``: the agreed scores, or the mean of the
  verdicts revealed so far), ``stream`` (with ``?stream=``), ``chat`` (``name``, ``text``, ``at``),
  ``reactions`` (``counts`` by emoji, crowd ``votes`` a/b, ``recent``), ``error``.
- ``GET /api/events?battle=&stream=``: the same snapshot as server-sent events (``event:
  overlay``), sent when it changed, at most four times a second.
- ``POST /api/listen/{stream_id}/offer`` with ``{"type": "offer", "sdp": ...}``: the WebRTC
  answer ``{"type": "answer", "sdp": ...}``; the node forwards the stream's Opus packets as is
  (its peer connection uses the ``[webrtc]`` ICE servers too).
"""

from djmesh.node.http.address import HttpAddressError, parse_http_address
from djmesh.node.http.server import HttpError, HttpServer, optional_http_server

__all__ = ["HttpAddressError", "HttpError", "HttpServer", "optional_http_server", "parse_http_address"]
