"""Exception raised when an input cannot be analysed.

Kept in its own module so decode, analysis and callers share one type without
import cycles.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """An input could not be analysed; the message is one clear line for users."""
