"""Issue 10, item 10: how ``tether connect`` ends.

* In a pipe, what arrives while the session closes is printed: after end of input the
  session's ``aclose()`` flushes, sends Close, and stdout keeps printing until the
  peer's Close (``echo ping | tether connect URL -q`` prints the echo every time).
* A plain HTTP endpoint (200, 404) is called what it is, "not a WebSocket endpoint", and
  a first-attempt fatal error "failed", not "gave up"; a cut body excerpt says so.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trio
import wsproto
import wsproto.events as wsevents

import tether
from tether.cli.connect.options import ConnectOptions
from tether.cli.connect.output import Output, Status
from tether.cli.connect.runner import EXIT_OK, EXIT_REJECTED, connect_and_pump

from .support import TIMEOUT, run_tether

pytestmark = pytest.mark.loopback

#: Runs of the pipe test: the loss was seen in 8 of 100 (issue 10).
RUNS = 100


class _ThreadEchoServer:
    """A WebSocket echo server on 127.0.0.1 in a thread of its own, with its own Trio
    run, so that its echoes race the client's close as they would from another process
    (a server in the client's own run takes turns with it in one scheduler).

    wsproto over a trio socket, handling each connection's events in order: every
    message is echoed before the answer to a Close that came after it (trio-websocket's
    server answers a Close at once, and a handler's echo still to be sent is then lost
    on the server's side). ``delay``: real seconds before each echo (default none).
    ``echoed``: messages echoed; ``close_codes``: the client's close code, per
    connection."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.echoed = 0
        self.close_codes: list[int] = []
        self._started: queue.Queue[tuple[int, trio.CancelScope, trio.lowlevel.TrioToken]]
        self._started = queue.Queue()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def __aenter__(self) -> str:
        self._thread.start()
        started = await trio.to_thread.run_sync(self._started.get, True, TIMEOUT)
        port, self._scope, self._token = started
        return f"ws://127.0.0.1:{port}/"

    async def __aexit__(self, *exc_info: object) -> None:
        self._token.run_sync_soon(self._scope.cancel)
        await trio.to_thread.run_sync(self._thread.join, TIMEOUT)

    async def _main(self) -> None:
        async with trio.open_nursery() as nursery:
            [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
            nursery.start_soon(trio.serve_listeners, self._echo, [listener])
            port = listener.socket.getsockname()[1]
            token = trio.lowlevel.current_trio_token()
            self._started.put((port, nursery.cancel_scope, token))

    async def _echo(self, stream: trio.SocketStream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        async with stream:
            while data := await stream.receive_some():
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, wsevents.Request):
                        await stream.send_all(ws.send(wsevents.AcceptConnection()))
                    elif isinstance(event, wsevents.Message):
                        await trio.sleep(self.delay)
                        await stream.send_all(ws.send(wsevents.Message(data=event.data)))
                        self.echoed += 1
                    elif isinstance(event, wsevents.CloseConnection):
                        self.close_codes.append(event.code)
                        await stream.send_all(ws.send(event.response()))
                        return


async def _pipe_run(url: str) -> tuple[int, str, str]:
    """One in-process ``tether connect URL -q`` with ``ping`` and end of input on a
    pipe for stdin: the exit status, stdout and stderr."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, b"ping\n")
        os.close(write_fd)
        write_fd = -1
        options = ConnectOptions(
            urls=(url,),
            config=tether.Config(ping_interval=None),
            quiet=True,
            stdin_fd=read_fd,
        )
        stdout, stderr = io.StringIO(), io.StringIO()
        code = await connect_and_pump(
            options, Status(quiet=True, stream=stderr), Output(stream=stdout)
        )
    finally:
        os.close(read_fd)
        if write_fd != -1:
            os.close(write_fd)
    return code, stdout.getvalue(), stderr.getvalue()


async def test_what_arrives_while_closing_is_printed_every_time() -> None:
    server = _ThreadEchoServer()
    missing = []
    async with server as url:
        for run in range(RUNS):
            code, stdout, stderr = await _pipe_run(url)
            assert code == EXIT_OK, stderr
            if stdout != "ping\n":
                missing.append((run, stdout))
    assert missing == []
    assert server.echoed == RUNS
    assert server.close_codes == [1000] * RUNS


async def test_an_echo_that_comes_after_the_close_frame_was_sent_is_printed() -> None:
    # The echo comes 50 ms after the message: the client has long sent its Close.
    server = _ThreadEchoServer(delay=0.05)
    async with server as url:
        results = [await _pipe_run(url) for _ in range(3)]
    assert results == [(EXIT_OK, "ping\n", "")] * 3
    assert server.close_codes == [1000] * 3


# ------------------------------------------------------------------ plain HTTP

#: Bytes of the long body the 200 endpoint answers with.
LONG_BODY = 4096


class _Handler(BaseHTTPRequestHandler):
    """``/missing``: 404 with a short body; anything else: 200 with an HTML page of
    :data:`LONG_BODY` bytes (a web server, not a WebSocket endpoint)."""

    def do_GET(self) -> None:
        if self.path == "/missing":
            body = b"no such page\n"
            self.send_response(404)
        else:
            body = (b"<html>" + b"x" * LONG_BODY)[:LONG_BODY]
            self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


@pytest.fixture
def http_url() -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 in a thread: ``ws://127.0.0.1:PORT``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


async def test_a_404_is_not_a_websocket_endpoint_and_failed_not_gave_up(http_url: str) -> None:
    result = await run_tether("connect", http_url + "/missing", stdin=b"hello\n")
    stderr = result.stderr.decode()
    assert result.returncode == EXIT_REJECTED
    assert "tether: not a WebSocket endpoint: HTTP 404: no such page\n" in stderr
    assert "tether: failed: HandshakeRejected(404)" in stderr
    assert "gave up" not in stderr
    assert stderr.count("connecting to") == 1  # one attempt: 404 is not retried


async def test_a_200_is_not_a_websocket_endpoint_and_its_cut_body_says_so(
    http_url: str,
) -> None:
    result = await run_tether("connect", http_url + "/", "-q", stdin=b"hello\n")
    stderr = result.stderr.decode()
    assert result.returncode == EXIT_REJECTED
    [line] = stderr.splitlines()
    excerpt = "<html>" + "x" * 194
    assert line == (
        f"tether: not a WebSocket endpoint: HTTP 200: {excerpt}"
        f"… (body cut at 200 of {LONG_BODY:,} bytes)"
    )


async def test_giving_up_after_retrying_still_says_gave_up() -> None:
    result = await run_tether("connect", "ws://127.0.0.1:1/", "-q", "--max-attempts", "2")
    assert result.returncode == 1
    [line] = result.stderr.decode().splitlines()
    assert line.startswith("tether: gave up: ConnectionRefusedError")
