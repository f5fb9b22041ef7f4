"""capplan: AI infrastructure capacity planner and benchmark harness."""

__version__ = "0.1.0"
