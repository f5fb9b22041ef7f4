"""Fleet runs: one benchmark suite per selected node of a Ray cluster, all writing to one shared store.

Ray is an optional extra (``pip install capplan[fleet]``) and is imported only when a fleet runs.
Ray schedules (node affinity, GPU resources); capplan's own harness runs the suite on each node.
"""
