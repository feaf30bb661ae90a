"""``python -m tether``: the ``tether`` command (see :mod:`tether.cli`)."""

from tether.cli import main

raise SystemExit(main())
