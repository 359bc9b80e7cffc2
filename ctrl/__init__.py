"""Live VM mobility over a P4 / Open vSwitch fabric: the controller package."""

__version__ = "0.1.0"
