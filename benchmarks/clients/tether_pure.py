"""Client: a tether ``Session`` masking in pure Python (``TETHER_NO_SPEEDUPS=1``).

What ``pip install trio-tether`` without the ``speedups`` extra runs: the same session
as ``tether_session`` (same config), with websockets' C masking function ignored. Set
before tether is imported, which is why this module is separate.
"""

from __future__ import annotations

import os

os.environ["TETHER_NO_SPEEDUPS"] = "1"

from clients._common import main
from clients._drivers import benches, trio_both
from clients.tether_session import open_link

if __name__ == "__main__":
    import tether.protocol._masking

    assert tether.protocol._masking.speedups == "python", tether.protocol._masking.speedups
    main(benches(open_link, trio_both), "trio")
