"""The message counters of a ``tether demo`` run, at one moment: :class:`Counts`, read by
:func:`read_counts` from the three places that know them: the application's books
(:class:`.ledger.Ledger`), the delivery layer (``Delivery.statistics()``) and the
server (:class:`tether.testing.JsonDialectServer`). The summary and the live view
show them.
"""

from __future__ import annotations

import attrs

from tether.delivery import DeliveryStatistics
from tether.testing import JsonDialectServer

from .ledger import Ledger

__all__ = ["Counts", "read_counts"]


@attrs.frozen(kw_only=True)
class Counts:
    """Counts of messages (default 0 each).

    Attributes:
        sent: messages the application handed to ``delivery.send()``.
        written: those whose ``send()`` returned (written to a live connection).
        acknowledged: those the server acknowledged (``DeliveryStatistics.acknowledged``).
        received: distinct messages the server's application received (each id once).
        echoed: distinct messages whose echo reached the application.
        resent: writes of an unacknowledged message after a reconnect, by the delivery
            layer (``DeliveryStatistics.resent``).
        server_duplicates: copies of a message the server had received already, dropped
            by it (by id).
        client_duplicates: inbound messages the delivery layer dropped as duplicates (by
            sequence number: a replay after the resume).
        gaps: ``SequenceGap`` events (``DeliveryStatistics.gaps``).
        repeated: echoes of a message that reached the application a second time.
        out_of_order: first echoes of a message numbered lower than one echoed before.
        unexpected: received messages that are not the echo of a demo message.
        lost: messages sent whose echo has not come back (in flight, while the run is
            still sending).
        never_returned: of those, the ones whose ``send()`` never returned.
    """

    sent: int = 0
    written: int = 0
    acknowledged: int = 0
    received: int = 0
    echoed: int = 0
    resent: int = 0
    server_duplicates: int = 0
    client_duplicates: int = 0
    gaps: int = 0
    repeated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    lost: int = 0
    never_returned: int = 0

    @property
    def duplicates_dropped(self) -> int:
        """Duplicates dropped on both sides: the server's and the client's."""
        return self.server_duplicates + self.client_duplicates


def read_counts(
    ledger: Ledger, delivery: DeliveryStatistics | None, server: JsonDialectServer
) -> Counts:
    """The counters now; ``delivery`` is ``None`` before the session opened."""
    return Counts(
        sent=ledger.submitted,
        written=len(ledger.written),
        acknowledged=delivery.acknowledged if delivery else 0,
        received=len(server.received),
        echoed=len(ledger.echoed),
        resent=delivery.resent if delivery else 0,
        server_duplicates=server.duplicates,
        client_duplicates=delivery.duplicates_dropped if delivery else 0,
        gaps=delivery.gaps if delivery else 0,
        repeated=ledger.repeated,
        out_of_order=ledger.out_of_order,
        unexpected=ledger.unexpected,
        lost=ledger.lost(),
        never_returned=ledger.never_returned(),
    )
