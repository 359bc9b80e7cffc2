"""Placement: VMs follow their clients. Traffic from the switches' counters (traffic.py),
the fabric's distances and batched costs (fabric.py), mobility managers that propose
moves (manager.py: the plug-in interface; follow.py, pack.py), the engine's guard rails
and explanations (engine.py, records.py), and what runs it in `ctrl serve` (service.py,
actuate.py, api.py, policy.py, cli.py)."""
