"""Widgets the screens share: level meter, DJ panel, consensus panel."""
