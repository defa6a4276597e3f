"""The app's screens, one module each (the App switches between them as modes)."""
