"""TUI tests: Pilot, snapshots on fixed data, real nodes, and a real terminal (tmux)."""
