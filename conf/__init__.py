"""pacegym's Hydra configs, shipped as package data (``pkg://pacegym.conf``)."""
