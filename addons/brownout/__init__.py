"""brownout: a chaos-engineering proxy for AI APIs."""

__version__ = "0.1.0"
