"""The daemon and the registry under hostile input, as real processes on a temporary unix socket and
loopback ports: each bug found by trying them as an attacker would has a test named after it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from processes import Server, serve

from vm.containers import api
from vm.containers.daemon import LOG_PAGE_ROWS

TOKEN = "hostile-test-token"
REQUEST_SECONDS = 60  # every request of a test is answered within this
STOPS_AS_IT_STARTS = 20  # stops sent the moment a container starts, to land in the cage's fork
CLIENT_TIMEOUT = 4.0  # the servers' --client-timeout here (10 s by default): a half-sent request is cut off then
PROMPT_SECONDS = 2.0  # what "promptly" means for a daemon under load on a shared machine
MAX_DAEMON_RSS = 400 << 20  # the daemon's resident memory, whatever its guests ask for

HELLO = "main: li r1, 1\n la r2, text\n li r3, 6\n hcall 1\n li r1, 3\n hcall 0\ntext: .ascii \"hello\\n\"\n"
SPIN = "main: li r3, 100000000000\nloop: subi r3, r3, 1\n bnez r3, loop\n halt\n"  # runs for minutes
TICKER = """\
main:   li   r1, 0
loop:   addi r1, r1, 1
        out  1, r1
        li   r2, 10
        out  0, r2
        li   r3, 20000
pause:  subi r3, r3, 1
        bnez r3, pause
        jmp  loop
"""  # prints 1, 2, 3... a line per pause, forever
CHATTY = "main: li r1, 0\nloop: addi r1, r1, 1\n out 1, r1\n li r2, 10\n out 0, r2\n jmp loop\n"  # flat out
PROGRAMS = {"hello": (HELLO, "os"), "spin": (SPIN, "os"), "ticker": (TICKER, "os"), "chatty": (CHATTY, "os")}


def vm(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], capture_output=True,
                          timeout=REQUEST_SECONDS, env={**os.environ, **env})
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("images")
    for name, (source, mode) in PROGRAMS.items():
        directory = base / name
        directory.mkdir()
        (directory / f"{name}.asm").write_text(source)
        (directory / "vmfile.toml").write_text(f'program = "{name}.asm"\nmode = "{mode}"\n')
        vm("image", "build", directory, "-t", f"{name}:1", env={"VM_IMAGES": str(base / "store")})
    return base / "store"


class Daemon:
    """A `vm daemon` process and clients of it: on its unix socket (no token) and its TCP port."""

    def __init__(self, server: Server, root: Path) -> None:
        self.server, self.root = server, root
        self.socket = root / "d.sock"
        self.tcp = server.ready_line.rsplit(" ", 1)[1].replace("tcp://", "http://")
        self.http = httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://vm/v1",
                                 timeout=REQUEST_SECONDS)

    def resident_bytes(self, peak: bool = False) -> int:
        """The daemon's resident memory now (or at its peak), from /proc."""
        key = "VmHWM:" if peak else "VmRSS:"
        for line in Path(f"/proc/{self.server.process.pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {key} in /proc/{self.server.process.pid}/status")

    def create(self, **body) -> httpx.Response:
        return self.http.post("/containers", json=body)

    def log_text(self) -> str:
        return self.server.log_text()


@pytest.fixture(scope="module")
def daemon(store, tmp_path_factory):
    root = tmp_path_factory.mktemp("daemon")
    with serve(["daemon", "--root", str(root), "--socket", str(root / "d.sock"), "--tcp", "127.0.0.1:0",
                "--token", TOKEN, "--images", str(store), "--client-timeout", str(CLIENT_TIMEOUT)],
               root.parent / f"{root.name}.log") as server:
        client = Daemon(server, root)
        yield client
        client.http.close()


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()["error"]["message"]


def assert_no_traceback(daemon: Daemon) -> None:
    assert "Traceback" not in daemon.log_text() and '" 500 ' not in daemon.log_text(), daemon.log_text()[-3000:]


# -- bug 1 ------------------------------------------------------------------------------------------------
def test_bug1_a_large_guest_is_allocated_only_in_its_cage(daemon) -> None:
    """A 4 GiB guest runs while other containers are created, listed and stopped promptly, and the
    daemon's resident memory stays bounded through its whole run, its end included."""
    big = daemon.create(image="spin:1", name="big", memory=4 << 30).json()
    assert daemon.http.post(f"/containers/{big['id']}/start").status_code == 200
    others = [daemon.create(image="spin:1", name=f"small{i}").json()["id"] for i in range(3)]
    for container in others:
        assert daemon.http.post(f"/containers/{container}/start").status_code == 200
    time.sleep(1.0)  # the big guest is in its cage by now
    for container in others:
        start = time.monotonic()
        listed = daemon.http.get("/containers")
        stopped = daemon.http.post(f"/containers/{container}/stop", params={"timeout": 0})
        assert time.monotonic() - start < PROMPT_SECONDS
        assert listed.status_code == 200 and big["id"] in [c["id"] for c in listed.json()]
        assert stopped.json()["status"] == "exited"
    assert daemon.resident_bytes() < MAX_DAEMON_RSS
    ended = daemon.http.post(f"/containers/{big['id']}/kill").json()
    assert ended["result"]["state"]["mem_size"] == 4 << 30 and len(ended["result"]["state"]["mem_sha256"]) == 64
    assert daemon.resident_bytes(peak=True) < MAX_DAEMON_RSS
    for container in [big["id"], *others]:
        daemon.http.delete(f"/containers/{container}")


# -- bugs 2 and 3: numbers out of range are refused at create, with their bound ----------------------------
@pytest.mark.parametrize(("body", "message"), [
    ({"fuel": 2**63}, "fuel: Input should be less than or equal to 9223372036854775807"),
    ({"fuel": 2**64}, "fuel: Input should be less than or equal to 9223372036854775807"),
    ({"fuel": 2**100}, "fuel: Input should be less than or equal to 9223372036854775807"),
    ({"fuel": -1}, "fuel: Input should be greater than or equal to 0"),
    ({"fuel": 1.5}, "fuel: Input should be a valid integer"),
])
def test_bug2_fuel_of_2_to_the_63_or_more_is_refused_at_create(daemon, body, message) -> None:
    assert error_of(daemon.create(image="hello:1", **body), 400) == message


@pytest.mark.parametrize(("limits", "message"), [
    ({"cpu_seconds": 2**63}, "limits.cpu_seconds: Input should be less than or equal to 2147483647"),
    ({"cpu_seconds": 2**100}, "limits.cpu_seconds: Input should be less than or equal to 2147483647"),
    ({"cpu_seconds": 0}, "limits.cpu_seconds: Input should be greater than or equal to 1"),
    ({"memory_bytes": 2**64}, "limits.memory_bytes: Input should be less than or equal to 9223372036854775807"),
    ({"output_bytes": 2**70}, "limits.output_bytes: Input should be less than or equal to 9223372036854775807"),
    ({"output_bytes": True}, "limits.output_bytes: Input should be a valid integer"),
    ({"wall_seconds": 5}, "limits.wall_seconds: Extra inputs are not permitted"),
])
def test_bug3_limits_out_of_range_are_refused_at_create_with_the_bound(daemon, limits, message) -> None:
    assert error_of(daemon.create(image="hello:1", limits=limits), 400) == message


def test_bug2_and_3_the_largest_values_allowed_run(daemon) -> None:
    limits = {"cpu_seconds": 2**31 - 1, "memory_bytes": 2**63 - 1, "output_bytes": 2**63 - 1}
    created = daemon.create(image="hello:1", fuel=2**63 - 1, limits=limits, auto_remove=True)
    assert created.status_code == 201, created.text
    ended = daemon.http.post(f"/containers/{created.json()['id']}/start", params={"attach": 1})
    assert json.loads(ended.text.splitlines()[-1])["container"]["exit_status"] == 3


# -- bug 4: what used to be a 500 is a 400 or a 401 --------------------------------------------------------
def _connected(address: str | tuple[str, int], seconds: float | None) -> socket.socket:
    """A connection to a unix socket's path or a (host, port), each operation on it bounded by `seconds`."""
    conn = socket.socket(socket.AF_UNIX if isinstance(address, str) else socket.AF_INET, socket.SOCK_STREAM)
    try:
        conn.settimeout(seconds)
        conn.connect(address)
    except BaseException:
        conn.close()
        raise
    return conn


def _raw_request(address: str | tuple[str, int], request: bytes, seconds: float = 10.0) -> bytes:
    """Send bytes as they are (no client library would send these) and read the whole answer."""
    with _connected(address, seconds) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def _tcp_address(url: str) -> tuple[str, int]:
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    return host, int(port)


def test_bug4_an_authorization_header_that_is_not_utf8_is_refused_with_401(daemon) -> None:
    answer = _raw_request(_tcp_address(daemon.tcp), b"GET /v1/containers HTTP/1.1\r\nHost: vm\r\n"
                          b"Authorization: Bearer \xff\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b'"UNAUTHORIZED"' in answer and b"the token was refused" in answer


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 200_000 + b"]" * 200_000, "the body is not JSON: recursion limit exceeded"),
    (b'{"image": "hello:1", "memory": ' + b"9" * 5000 + b"}", "the body is not JSON: number out of range"),
    (b'{"image": "hello:1", "fuel": ' + b"1" * 5000 + b"}", "the body is not JSON: number out of range"),
    (b"{not json", "the body is not JSON: key must be a string"),
    (b"\xff\xfe", "the body is not JSON"),
    (b"[]", "the body: Input should be an object"),
    (b"{}", "image: Field required"),
], ids=["deep", "huge-memory", "huge-fuel", "not-json", "not-utf8", "array", "no-image"])
def test_bug4_a_create_body_deep_huge_or_not_json_is_a_400(daemon, body, message) -> None:
    response = daemon.http.post("/containers", content=body, headers={"Content-Type": "application/json"})
    assert error_of(response, 400).startswith(message)


@pytest.mark.parametrize(("query", "message"), [
    ({"after": "99999999999999999999"}, "?after: Input should be less than or equal to 9223372036854775807"),
    ({"after": "-1"}, "?after: Input should be greater than or equal to 0"),
    ({"after": "x"}, "?after: Input should be a valid integer"),
    ({"follow": "maybe"}, "?follow: Input should be a valid boolean"),
])
def test_bug4_a_logs_query_out_of_range_is_a_400(daemon, query, message) -> None:
    created = daemon.create(image="hello:1").json()
    assert error_of(daemon.http.get(f"/containers/{created['id']}/logs", params=query), 400).startswith(message)
    daemon.http.delete(f"/containers/{created['id']}")


@pytest.mark.parametrize("timeout", ["-1", "3601", "nan", "inf", "soon"])
def test_bug4_a_stop_timeout_out_of_range_is_a_400(daemon, timeout) -> None:
    assert error_of(daemon.http.post("/containers/nosuch/stop", params={"timeout": timeout}), 400).startswith(
        "?timeout: ")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """`vm registry serve` with a token, on a free loopback port; its base URL and its log."""
    root = tmp_path_factory.mktemp("registry")
    with serve(["registry", "serve", "--port", "0", "--root", str(root), "--token", TOKEN, "--client-timeout",
                str(CLIENT_TIMEOUT)], root.parent / f"{root.name}.log") as server:
        yield server.ready_line.rsplit(" ", 1)[1], server


def test_bug4_a_push_whose_authorization_is_not_utf8_is_refused_with_401(registry) -> None:
    url, _ = registry
    answer = _raw_request(_tcp_address(url), b"POST /v2/x/blobs/uploads/ HTTP/1.1\r\nHost: r\r\n"
                          b"Authorization: Bearer \xff\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b'"UNAUTHORIZED"' in answer and b"the token was refused" in answer


@pytest.mark.parametrize(("body", "message"), [
    (b"[" * 200_000 + b"]" * 200_000, "the manifest is not JSON: recursion limit exceeded"),
    (b'{"schemaVersion": ' + b"9" * 5000 + b"}", "the manifest is not JSON: number out of range"),
    (b"\xff", "the manifest is not JSON"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "m", "size": 1, "digest": 5}, "layers": []}',
     "the manifest's config: 5 is not a digest"),
], ids=["deep", "huge-number", "not-utf8", "digest-not-a-string"])
def test_bug4_a_manifest_deep_huge_or_not_json_is_a_400(registry, body, message) -> None:
    url, server = registry
    response = httpx.put(f"{url}/v2/x/manifests/1", content=body, timeout=REQUEST_SECONDS,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "MANIFEST_INVALID" and error["message"].startswith(message)
    assert "Traceback" not in server.log_text()


# -- bug 7: names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["é", "٣٤", "a" * 129, "", "-a", ".a", "a b", "a/b", "a\n", 0, False, [], {}])
def test_bug7_a_name_outside_dockers_rule_is_refused(daemon, name) -> None:
    message = error_of(daemon.create(image="hello:1", name=name), 400)
    assert message.startswith("name: "), message
    assert all(c["name"] != name for c in daemon.http.get("/containers", params={"all": 1}).json())


@pytest.mark.parametrize("name", ["a", "A9", "9", "web_1.prod-2", "a" * 128])
def test_bug7_a_name_in_dockers_rule_is_taken_as_it_is(daemon, name) -> None:
    created = daemon.create(image="hello:1", name=name)
    assert created.status_code == 201 and created.json()["name"] == name
    daemon.http.delete(f"/containers/{name}")


def test_bug7_without_a_name_one_is_made(daemon) -> None:
    created = daemon.create(image="hello:1", name=None).json()
    assert created["name"].startswith("hello-")
    daemon.http.delete(f"/containers/{created['id']}")


# -- bugs 5 and 9: a client that goes away mid-request ------------------------------------------------------
def _hang_up(address: str | tuple[str, int], request: bytes, read: int = 0) -> None:
    """Send a request (perhaps cut off), read `read` bytes of the answer, and close the connection."""
    with _connected(address, REQUEST_SECONDS) as conn:
        conn.sendall(request)
        got = b""
        while len(got) < read:
            got += conn.recv(read - len(got))


def _wait_for_log(server, text: str, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in server.log_text():
            return server.log_text()
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in the log: {server.log_text()[-2000:]}")


def test_bug9_a_client_that_goes_away_mid_stream_is_a_normal_end(daemon) -> None:
    ticker = daemon.create(image="ticker:1", name="chatty").json()["id"]
    _hang_up(str(daemon.socket), f"POST /v1/containers/{ticker}/start?attach=1 HTTP/1.1\r\nHost: vm\r\n"
             "Content-Length: 0\r\n\r\n".encode(), read=2000)
    for _ in range(3):
        _hang_up(str(daemon.socket), f"GET /v1/containers/{ticker}/logs?follow=1 HTTP/1.1\r\nHost: vm\r\n\r\n"
                 .encode(), read=2000)
    log = _wait_for_log(daemon.server, f'"GET /v1/containers/{ticker}/logs?follow=1" 499 ')
    assert f'"POST /v1/containers/{ticker}/start?attach=1" 499 ' in log
    assert daemon.http.get(f"/containers/{ticker}").json()["status"] == "running"  # the guest goes on
    assert daemon.http.post(f"/containers/{ticker}/kill").json()["exit_status"] == 137
    daemon.http.delete(f"/containers/{ticker}")
    assert_no_traceback(daemon)


def test_bug5_a_cut_off_create_body_is_the_clients_abort(daemon) -> None:
    _hang_up(str(daemon.socket), b"POST /v1/containers HTTP/1.1\r\nHost: vm\r\nContent-Length: 100000\r\n\r\n"
             b'{"image": "hello:1", "name": "cut')
    _wait_for_log(daemon.server, '"POST /v1/containers" 499 ')
    assert all(c["name"] != "cut" for c in daemon.http.get("/containers", params={"all": 1}).json())
    assert_no_traceback(daemon)


def test_bug5_a_cut_off_upload_is_the_clients_abort_and_nothing_partial_is_stored(registry) -> None:
    url, server = registry
    auth = {"Authorization": f"Bearer {TOKEN}"}
    data = os.urandom(1 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = httpx.post(f"{url}/v2/cut/blobs/uploads/", headers=auth).headers["Location"]
    _hang_up(_tcp_address(url), f"PUT {location}?digest={digest} HTTP/1.1\r\nHost: r\r\n"
             f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:300_000])
    _wait_for_log(server, f'"PUT {location}?digest={digest}" 499 ')
    assert httpx.head(f"{url}/v2/cut/blobs/{digest}").status_code == 404
    root = Path(server.process.args[server.process.args.index("--root") + 1])
    assert not [p for p in root.rglob("*") if p.is_file() and p.stat().st_size >= 300_000]
    assert "Traceback" not in server.log_text() and '" 500 ' not in server.log_text()


# -- bug 6: a slow client holds nothing for long -------------------------------------------------------------
MAX_CONNECTIONS = 256


def _until_closed(address: str | tuple[str, int], request: bytes) -> tuple[float, bytes]:
    """Send a half request and wait: how long until the server closed the connection, and what it said."""
    with _connected(address, CLIENT_TIMEOUT * 4) as conn:
        start = time.monotonic()
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return time.monotonic() - start, answer


def _servers(daemon, registry) -> dict[str, tuple[str | tuple[str, int], bytes, bytes]]:
    """Each server's address, a request whose head is cut off, and one whose body stops."""
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    return {
        "daemon": (str(daemon.socket), b"GET /v1/version HTTP/1.1\r\nHost: vm\r\nAccept: app",
                   b"POST /v1/containers HTTP/1.1\r\nHost: vm\r\nContent-Length: 100\r\n\r\n{\"image\""),
        "registry": (_tcp_address(registry[0]), b"GET /v2/ HTTP/1.1\r\nHost: r\r\nAccept: app",
                     b"PUT /v2/x/manifests/1 HTTP/1.1\r\nHost: r\r\n" + auth + b"Content-Length: 100\r\n\r\n{"),
    }


@pytest.mark.parametrize("server", ["daemon", "registry"])
def test_bug6_a_half_sent_request_is_not_held(daemon, registry, server) -> None:
    address, half_head, half_body = _servers(daemon, registry)[server]
    with ThreadPoolExecutor(4) as pool:
        heads = [pool.submit(_until_closed, address, half_head) for _ in range(2)]
        bodies = [pool.submit(_until_closed, address, half_body) for _ in range(2)]
        for future in heads:
            seconds, answer = future.result()
            assert CLIENT_TIMEOUT - 1 < seconds < CLIENT_TIMEOUT + 5 and answer == b""
        for future in bodies:
            seconds, answer = future.result()
            assert CLIENT_TIMEOUT - 1 < seconds < CLIENT_TIMEOUT + 5
            assert answer.startswith(b"HTTP/1.1 408 ") and b"REQUEST_TIMEOUT" in answer, answer


@pytest.mark.parametrize("server", ["daemon", "registry"])
def test_bug6_open_connections_are_bounded(daemon, registry, server) -> None:
    address, _, _ = _servers(daemon, registry)[server]
    held = []
    try:
        for _ in range(MAX_CONNECTIONS):
            held.append(_connected(address, None))
        time.sleep(0.5)  # the server has taken them all
        seconds, answer = _until_closed(address, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 ") and seconds < PROMPT_SECONDS
    finally:
        for conn in held:
            conn.close()
    deadline = time.monotonic() + PROMPT_SECONDS
    while time.monotonic() < deadline:  # the closed ones are forgotten: a request is served again
        path = b"/v2/" if server == "registry" else b"/v1/version"
        _, answer = _until_closed(address, b"GET " + path + b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        if answer.startswith(b"HTTP/1.1 200 "):
            break
        time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


# -- bug 8: chatty containers ---------------------------------------------------------------------------------
def _followed(daemon: Daemon, container: str) -> bytes:
    """All a follower of the container's logs receives, until the container ends."""
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)), base_url="http://vm/v1",
                      timeout=REQUEST_SECONDS) as client, \
            client.stream("GET", f"/containers/{container}/logs", params={"follow": 1}) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert "container" in lines[-1]
    seqs = [line["seq"] for line in lines[:-1]]
    assert seqs == sorted(set(seqs))
    return b"".join(base64.b64decode(line["data"]) for line in lines[:-1])


def test_bug8_a_container_stopped_as_it_starts_ends(daemon) -> None:
    """A stop that lands while the cage forks its guest (here, under a chatty container's load) kills the
    guest too: a guest left running would hold its output open, and the stop would never be answered."""
    chatty = daemon.create(image="chatty:1", limits={"output_bytes": 1 << 30}).json()["id"]
    daemon.http.post(f"/containers/{chatty}/start")
    quick = httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)), base_url="http://vm/v1",
                         timeout=PROMPT_SECONDS * 5)
    with quick:
        for attempt in range(STOPS_AS_IT_STARTS):
            spin = daemon.create(image="spin:1").json()["id"]
            quick.post(f"/containers/{spin}/start")
            stopped = quick.post(f"/containers/{spin}/stop", params={"timeout": 0}).json()
            assert (stopped["status"], stopped["exit_status"]) == ("exited", 128 + 9), (attempt, stopped)
            quick.delete(f"/containers/{spin}")
    daemon.http.delete(f"/containers/{chatty}", params={"force": 1})


def test_bug8_chatty_containers_do_not_stall_the_daemon(daemon) -> None:
    """Four containers print as fast as they can: listing and stopping answer promptly all along, and a
    follower gets exactly what is stored, every line once, in order."""
    chatty = [daemon.create(image="chatty:1", limits={"output_bytes": 1 << 30}).json()["id"] for _ in range(4)]
    for container in chatty:
        daemon.http.post(f"/containers/{container}/start")
    with ThreadPoolExecutor(1) as pool:
        followed = pool.submit(_followed, daemon, chatty[0])
        time.sleep(1.0)
        slowest = 0.0
        for _ in range(3):
            quiet = daemon.create(image="spin:1").json()["id"]
            daemon.http.post(f"/containers/{quiet}/start")
            for _ in range(10):
                start = time.monotonic()
                assert daemon.http.get("/containers").status_code == 200
                slowest = max(slowest, time.monotonic() - start)
            start = time.monotonic()
            assert daemon.http.post(f"/containers/{quiet}/stop", params={"timeout": 0}).json()["status"] == "exited"
            slowest = max(slowest, time.monotonic() - start)
            daemon.http.delete(f"/containers/{quiet}")
        for container in chatty:
            daemon.http.post(f"/containers/{container}/kill")
        output = followed.result(REQUEST_SECONDS)
    assert slowest < 0.5
    stored = b"".join(base64.b64decode(json.loads(line)["data"]) for line in
                      daemon.http.get(f"/containers/{chatty[0]}/logs").text.splitlines() if '"seq"' in line)
    assert output == stored and len(stored) > 10_000
    numbers = stored.split(b"\n")[:-1]
    assert numbers == [str(n).encode() for n in range(1, len(numbers) + 1)]
    for container in chatty:
        daemon.http.delete(f"/containers/{container}")


def test_a_failure_once_a_logs_stream_has_begun_is_the_streams_last_line(store, tmp_path) -> None:
    """A damaged row (written behind the daemon's back) fails the stream after its status is sent: the
    stored chunks before it come, then the error as its last line, and `vm logs` says it in one line."""
    import sqlite3

    root = tmp_path / "d"
    with serve(["daemon", "--root", str(root), "--socket", str(root / "d.sock"), "--images", str(store)],
               tmp_path / "d.log") as server:
        daemon = Daemon(server, root)
        hello = daemon.create(image="hello:1", name="damaged").json()["id"]
        daemon.http.post(f"/containers/{hello}/start")
        assert daemon.http.post(f"/containers/{hello}/wait").json()["exit_status"] == 3
        good = [(hello, seq, 1, 0.0, b"x\n") for seq in range(100, 99 + LOG_PAGE_ROWS)]  # with hello's, a page
        with sqlite3.connect(root / "state.db") as db:
            db.executemany("INSERT INTO logs (container, seq, stream, time, data) VALUES (?, ?, ?, ?, ?)",
                           [*good, (hello, 1000, 7, 0.0, b"?")])  # stream 7: none of the daemon's
        response = daemon.http.get(f"/containers/{hello}/logs")
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert response.status_code == 200
        stored = b"hello\n" + b"x\n" * (LOG_PAGE_ROWS - 1)
        assert b"".join(base64.b64decode(line["data"]) for line in lines[:-1]) == stored
        assert lines[-1] == {"error": {"code": "INTERNAL", "message": "the daemon failed: KeyError: 7"}}
        logs = subprocess.run([sys.executable, "-m", "vm", "logs", "damaged"], capture_output=True, timeout=60,
                              env={**os.environ, "VM_HOST": f"unix://{daemon.socket}"})
        assert (logs.returncode, logs.stdout) == (2, stored), logs
        assert logs.stderr == b"vm: the daemon failed: KeyError: 7\n"
        assert "Traceback" in daemon.log_text()  # the daemon's own log has the why
        daemon.http.close()


# -- bug 10: cage directories -------------------------------------------------------------------------------
def test_bug10_cage_directories_are_under_the_root_and_a_killed_daemons_are_cleared(store, tmp_path) -> None:
    root = tmp_path / "d"
    args = ["daemon", "--root", str(root), "--socket", str(root / "d.sock"), "--images", str(store)]
    with serve(args, tmp_path / "d.log") as server:
        daemon = Daemon(server, root)
        for name in ("one", "two"):
            created = daemon.create(image="ticker:1", name=name).json()
            daemon.http.post(f"/containers/{created['id']}/start")
        deadline = time.monotonic() + REQUEST_SECONDS
        while len(list((root / "cages").iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.name[:8] for p in (root / "cages").iterdir()] == ["vm-cage-"] * 2
        assert (root / "cages").stat().st_mode & 0o777 == 0o700
        server.process.kill()
        server.process.wait(REQUEST_SECONDS)
        daemon.http.close()
    assert len(list((root / "cages").iterdir())) == 2  # left by the killed daemon
    with serve(args, tmp_path / "d.log") as server:
        assert list((root / "cages").iterdir()) == []


# -- the API, described once ------------------------------------------------------------------------------
DOCS = Path(__file__).resolve().parent.parent / "docs" / "daemon-api.md"


def _docs_table(header: str) -> list[list[str]]:
    """The rows of the table of docs/daemon-api.md whose header row starts with `header`, as cells."""
    lines = DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_the_document_is_served_and_the_docs_list_its_endpoints(daemon) -> None:
    served = daemon.http.get("/openapi.json").json()
    assert served == api.openapi()
    documented = {(op.upper(), path.replace("{ref}", "C")) for path, ops in served["paths"].items() for op in ops}
    listed = {tuple(row[0].strip("`").split(" ", 1)) for row in _docs_table("| method and path |")}
    assert listed == documented
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            row = next(r for r in _docs_table("| method and path |")
                       if r[0] == f"`{method.upper()} {path.replace('{ref}', 'C')}`")
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    assert f"?{parameter['name']}=" in row[1], (path, parameter["name"])


def _bounds(schema: dict) -> dict:
    """The bounds of a JSON schema value, through anyOf [value, null]."""
    value = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
    return {k: value[k] for k in ("minimum", "maximum", "multipleOf", "pattern", "minLength", "maxLength", "enum")
            if k in value}


def test_the_docs_bounds_are_the_documents() -> None:
    """Every bound in the table of allowed values is the model's, and every bounded value is in the table."""
    document = api.openapi()
    schemas = document["components"]["schemas"]
    fields = {name: _bounds(s) for name, s in schemas["CreateRequest"]["properties"].items() if name != "limits"}
    fields |= {f"limits.{name}": _bounds(s) for name, s in schemas["LimitsRequest"]["properties"].items()}
    for ops in document["paths"].values():
        for operation in ops.values():
            fields |= {f"?{p['name']}": _bounds(p["schema"]) for p in operation.get("parameters", [])
                       if p["in"] == "query" and _bounds(p["schema"])}
    table = {row[0].strip("`"): row[1] for row in _docs_table("| value | allowed |")}
    assert set(table) == {name for name, bounds in fields.items() if bounds} | {"auto_remove"}
    for name, bounds in fields.items():
        text = table.get(name, "")
        numbers = [int(n) for n in re.findall(r"\b\d+\b", text.split(" (2^")[0])]
        for key in ("minimum", "maximum"):
            if key in bounds:
                assert int(bounds[key]) in numbers, (name, key, bounds[key], text)
        if "minLength" in bounds:
            assert f"{bounds['minLength']} to {bounds['maxLength']} characters" in text, name
        if "pattern" in bounds:
            assert f"`{bounds['pattern'].strip('^$')}`" in text, name
        if "multipleOf" in bounds:
            assert f"a multiple of {bounds['multipleOf']}" in text, name
        if "enum" in bounds:
            assert all(f"`{value}`" in text for value in bounds["enum"]), name


FUZZ_EXAMPLES = 25  # per operation and generation mode
FUZZ_SECONDS = 120.0


def test_schemathesis_finds_no_5xx_and_every_answer_as_documented(daemon) -> None:
    """Property-based requests from the document, valid and invalid, against the real daemon over TCP:
    no 5xx, every status, content type and body as documented; then its memory and connections bounded."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    schema = schemathesis.openapi.from_dict(api.openapi())
    deadline = time.monotonic() + FUZZ_SECONDS
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        runs = [(mode, None) for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)]
        if "{ref}" in operation.path and operation.method != "delete":  # and on a container that exists
            created = daemon.create(image="hello:1").json()["id"]
            runs += [(mode, {"ref": created}) for mode, _ in runs]
        for mode, path_parameters in runs:
            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def request(case) -> None:
                nonlocal sent
                assert time.monotonic() < deadline, "the fuzz ran out of time"
                response = case.call(base_url=daemon.tcp, headers={"Authorization": f"Bearer {TOKEN}"},
                                     timeout=REQUEST_SECONDS)
                sent += 1
                case.validate_response(response, checks=checks)

            try:
                request()
            except Unsatisfiable:  # an operation with nothing to make invalid (no parameters, no body)
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    assert sent >= 10 * FUZZ_EXAMPLES
    assert daemon.resident_bytes() < MAX_DAEMON_RSS
    time.sleep(CLIENT_TIMEOUT + 1)  # idle connections are closed by now
    assert len(os.listdir(f"/proc/{daemon.server.process.pid}/fd")) < 64
    assert_no_traceback(daemon)


REGISTRY_STATUSES = {200, 201, 202, 400, 401, 404, 405, 408, 413}  # docs/images.md's, and the timeouts'


def _registry_requests():
    """Requests for the registry's routes (docs/images.md) with names, digests, tags, tokens and bodies
    that are often wrong: hypothesis draws them."""
    from hypothesis import strategies as st

    text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
    name = st.one_of(st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True), text)
    digest = st.one_of(st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True), text)
    reference = st.one_of(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True), digest)
    route = st.one_of(
        st.tuples(name, st.just("/blobs/"), digest), st.tuples(name, st.just("/blobs/uploads/"), st.just("")),
        st.tuples(name, st.just("/blobs/uploads/"), st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
        st.tuples(name, st.just("/manifests/"), reference), st.tuples(name, st.just("/tags/list"), st.just("")),
        st.tuples(text, text, text))
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | text,
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                               max_leaves=20)
    manifest = st.fixed_dictionaries({"schemaVersion": st.sampled_from([2, 1, "2"]),
                                      "config": json_values, "layers": st.lists(json_values, max_size=3)})
    body = st.one_of(st.binary(max_size=2000), json_values.map(json.dumps).map(str.encode),
                     manifest.map(json.dumps).map(str.encode),
                     st.integers(1, 300_000).map(lambda n: b"[" * n + b"]" * n),  # deep
                     st.integers(1, 10_000).map(lambda n: b'{"schemaVersion": ' + b"9" * n + b"}"))  # long numbers
    visible = st.binary(min_size=1, max_size=30).map(lambda b: bytes(c for c in b if c > 32 and c != 127))
    token = st.one_of(st.just(f"Bearer {TOKEN}".encode()), st.none(), visible.map(lambda b: b"Bearer x" + b))
    return st.tuples(st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"]), route,
                     st.one_of(st.none(), digest), token, body)


def test_a_bounded_fuzz_of_the_registry_finds_no_5xx(registry) -> None:
    """Hypothesis draws requests for every route of the registry: each is answered as the distribution
    API's errors are, never 5xx; then the registry's memory and connections are bounded."""
    from urllib.parse import quote

    from hypothesis import HealthCheck, Phase, given, settings

    url, server = registry
    deadline = time.monotonic() + FUZZ_SECONDS
    with httpx.Client(base_url=url, timeout=REQUEST_SECONDS) as client:
        @settings(max_examples=400, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(_registry_requests())
        def request(drawn) -> None:
            assert time.monotonic() < deadline, "the fuzz ran out of time"
            method, route, digest, token, body = drawn
            path = "/v2/" + quote("".join(route), safe="/:")
            headers = {"Authorization": token} if token is not None else {}
            response = client.request(method, path, params={"digest": digest} if digest else None,
                                      headers=headers, content=body if method in ("PUT", "POST", "PATCH") else None)
            assert response.status_code in REGISTRY_STATUSES, (method, path, response.status_code, response.text)
            if response.status_code >= 400 and method != "HEAD":
                errors = response.json()["errors"]
                assert errors and all(isinstance(e["code"], str) and isinstance(e["message"], str) for e in errors)

        request()
    pid = server.process.pid
    resident = next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:"))
    assert resident < MAX_DAEMON_RSS
    time.sleep(CLIENT_TIMEOUT + 1)  # idle connections are closed by now
    assert len(os.listdir(f"/proc/{pid}/fd")) < 32
    assert "Traceback" not in server.log_text() and '" 500 ' not in server.log_text()


def test_the_bugs_above_left_no_traceback_in_the_daemons_log(daemon) -> None:
    assert_no_traceback(daemon)
