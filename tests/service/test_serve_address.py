"""The address checks that ``recommender serve`` and ``run`` make before they
start: no server is started, and no request is sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from service.cli_parser import _parser
from service.cli_serve import _check_port_free, base_url


@pytest.fixture
def ipv6_listener() -> Iterator[int]:
    """Listen on a free port of ::1 and yield the port."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("::1", 0))
        except OSError as error:
            pytest.skip(f"no IPv6 loopback: {error}")
        listener.listen()
        yield listener.getsockname()[1]


def test_port_check_ipv6_free(ipv6_listener: int) -> None:
    # uvicorn binds an address with ':' as IPv6, so serve takes --host ::1.
    # The listener only makes the test skip where ::1 is missing.
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        free_port = probe.getsockname()[1]

    _check_port_free("::1", free_port)


def test_port_check_ipv6_in_use(ipv6_listener: int) -> None:
    with pytest.raises(ValueError, match=r"cannot listen on \[::1\]:\d+"):
        _check_port_free("::1", ipv6_listener)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("localhost", "http://localhost:8000"),
        ("::1", "http://[::1]:8000"),
    ],
)
def test_base_url_brackets_ipv6(host: str, expected: str) -> None:
    assert base_url(host, 8000) == expected


@pytest.mark.parametrize("command", ["serve", "run"])
@pytest.mark.parametrize("host", ["", "   "])
def test_blank_host_rejected(
    command: str, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty host makes asyncio listen on every address.
    with pytest.raises(SystemExit) as raised:
        _parser().parse_args([command, "--host", host])

    assert raised.value.code == 2
    assert "argument --host: expected a host name or IP address" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("host", "address", "url"),
    [
        ("[::1]", "::1", "http://[::1]:8000"),
        ("::1", "::1", "http://[::1]:8000"),
        ("0.0.0.0", "0.0.0.0", "http://0.0.0.0:8000"),
    ],
)
def test_host_brackets_removed(host: str, address: str, url: str) -> None:
    args = _parser().parse_args(["serve", "--host", host])

    assert args.host == address
    assert base_url(args.host, 8000) == url
