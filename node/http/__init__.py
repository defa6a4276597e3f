"""The node's local web pages and JSON API (``--http ADDR`` on `djmesh node`, `demo --live`, `tui`).

Pages: ``/overlay`` (an OBS browser source: both DJs' live BPM, key, level, scores, the battle
chat ticker and reactions; ``?battle=ID`` pins a battle), ``/listen/STREAM_ID`` (plays a live
stream in the browser over WebRTC, with its figures and the battle's scores beside it) and
``/`` (the streams this node knows). Static files are package data under ``static/``.

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
  first: ``battle_id``, ``title``, ``genre``, ``djs``, ``winner``, ``forfeit``, ``scores``
  (points), ``committee``, ``quorum``, ``revealed``, ``offences``, ``model``, ``published_at``.
- ``GET /api/leaderboard``: ratings per genre from the verified results.
- ``GET /api/overlay?battle=&stream=``: what the pages draw: ``battle`` (``battle_id``,
  ``title``, ``genre``, ``bpm_min``, ``bpm_max``, ``phase``, ``deadline``, ``seconds_left``,
  ``committee_size``, ``quorum``, ``joined``, ``commits``, ``reveals``, ``winner``, ``forfeit``,
  ``scores_final``), ``djs`` (per side: ``side``, ``peer``, ``name``, ``stream``, the figures
  above, ``track``, ``tracks``, ``track_title``, ``scores``: the agreed scores, or the mean of the
  verdicts revealed so far), ``stream`` (with ``?stream=``), ``chat`` (``name``, ``text``, ``at``),
  ``reactions`` (``counts`` by emoji, crowd ``votes`` a/b, ``recent``), ``error``.
- ``GET /api/events?battle=&stream=``: the same snapshot as server-sent events (``event:
  overlay``), sent when it changed, at most four times a second.
- ``POST /api/listen/{stream_id}/offer`` with ``{"type": "offer", "sdp": ...}``: the WebRTC
  answer ``{"type": "answer", "sdp": ...}``; the node forwards the stream's Opus packets as is.
"""

from djmesh.node.http.address import HttpAddressError, parse_http_address
from djmesh.node.http.server import HttpError, HttpServer, optional_http_server

__all__ = ["HttpAddressError", "HttpError", "HttpServer", "optional_http_server", "parse_http_address"]
