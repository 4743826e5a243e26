"""Scale-out on Ray: sharded RTL co-simulation and design-space sweeps (docs/scale-out.md)."""
