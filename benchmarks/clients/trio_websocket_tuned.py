"""Client: raw trio-websocket with tether's buffer sizes (64 messages, 64 KiB reads)."""

from clients._common import TUNED_MESSAGE_QUEUE_SIZE, TUNED_RECEIVE_BUFFER_SIZE, main
from clients._trio_websocket import all_benches

if __name__ == "__main__":
    main(all_benches((TUNED_MESSAGE_QUEUE_SIZE, TUNED_RECEIVE_BUFFER_SIZE)), "trio")
