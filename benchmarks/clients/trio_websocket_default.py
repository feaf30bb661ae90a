"""Client: raw trio-websocket with its default buffers (queue 1 message, 4 KiB reads)."""

from clients._common import main
from clients._trio_websocket import all_benches

if __name__ == "__main__":
    main(all_benches(tuning=None), "trio")
