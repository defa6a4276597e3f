"""djmesh.tui: the terminal UI (Textual). The only djmesh package that imports textual.

Start it with ``djmesh --home DIR tui [--demo]`` or embed ``DjmeshApp(backend)``.
"""
