"""Placement: VMs follow their clients. Traffic from the switches' counters (traffic.py),
mobility managers that propose moves (manager.py: the plug-in interface; follow.py,
pack.py), the engine's guard rails and explanations (engine.py), the fabric's distances
(fabric.py), and the service that runs it all in `ctrl serve` (service.py, actuate.py)."""
