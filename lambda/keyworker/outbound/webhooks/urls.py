"""Which URLs a webhook may point at: no SSRF.

On AWS a webhook URL is ``https`` and every address its host resolves to must be a public
unicast address: loopback, private (RFC 1918, ULA), link-local (169.254.0.0/16 with the
instance metadata service at 169.254.169.254, fe80::/10), the EC2 IPv6 metadata address
fd00:ec2::254, carrier-grade NAT, multicast, reserved and unspecified addresses are refused,
as are IPv4-mapped/compatible IPv6 forms of them. The check runs when a subscription is
created and again before every delivery (a host may resolve elsewhere later: DNS rebinding).

The local stack (an injected setting, ``WEBHOOK_ALLOW_LOOPBACK``) allows ``http`` and
``https`` to this machine only (``127.0.0.1``, ``::1``, ``localhost``): nothing it delivers
leaves the machine, and creating a subscription resolves no name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from keyworker.errors import InvalidInput

MAX_URL_LEN = 2048
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_FIELD = "url"

Resolver = Callable[[str, int], Iterable[str]]


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, as the HTTP client would)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address in ipaddress.IPv6Network("::/96"):  # IPv4-compatible (deprecated) form
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    # is_global is False for private, loopback, link-local (the metadata endpoints among
    # them), shared (CGNAT), reserved and unspecified addresses; multicast is global.
    return address.is_global and not address.is_multicast


class UrlRefused(InvalidInput):
    """A webhook URL keyworker will not call (``field`` is ``url``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field=_FIELD)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_loopback: bool = False
    #: None: the system resolver (``system_resolve``, looked up when used).
    resolve: Resolver | None = None

    def check_syntax(self, url: str) -> SplitResult:
        """The URL's parts when its form is acceptable (no name resolution)."""
        if len(url) > MAX_URL_LEN:
            raise UrlRefused(f"url is longer than {MAX_URL_LEN} characters")
        if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
            raise UrlRefused("url must not contain spaces or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UrlRefused(f"url is not a valid URL: {error}") from None
        if parts.scheme not in ("https", "http"):
            raise UrlRefused("url must be an https URL")
        if parts.username is not None or parts.password is not None:
            raise UrlRefused("url must not carry credentials")
        if parts.fragment:
            raise UrlRefused("url must not have a fragment")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UrlRefused("url has no host")
        local = host in LOCAL_HOSTS
        if self.allow_loopback:
            if not local:
                raise UrlRefused("the local stack delivers to 127.0.0.1, ::1 or localhost only")
        elif parts.scheme != "https":
            raise UrlRefused("url must be an https URL")
        if port == 0:
            raise UrlRefused("url has port 0")
        return parts

    def addresses(self, url: str) -> list[str]:
        """Check the URL and resolve its host; every address must be allowed. Returns them."""
        parts = self.check_syntax(url)
        host = (parts.hostname or "").rstrip(".")
        if self.allow_loopback:
            return ["127.0.0.1"] if host == "localhost" else [host]
        port = parts.port or 443
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = list((self.resolve or system_resolve)(host, port))
            except (OSError, UnicodeError) as error:
                raise UrlRefused(f"url host {host!r} does not resolve: {error}") from None
            if not found:
                raise UrlRefused(f"url host {host!r} does not resolve")
        for text in found:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not is_public(address):
                raise UrlRefused(
                    f"url host {host!r} resolves to {address}, which is not a public address"
                )
        return found
