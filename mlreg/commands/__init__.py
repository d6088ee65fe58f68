"""The ``mlreg`` commands, a module per group (as pipx keeps them); ``mlreg.cli``
imports them all, which registers them on the app (``base.app``)."""
