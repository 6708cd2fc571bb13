"""The rules of webhook delivery that need no AWS: which URLs may be called (no SSRF) and the
retry schedule (exponential backoff with full jitter, bounded)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyworker.outbound.webhooks import backoff
from keyworker.outbound.webhooks.model import matches, validate_filters
from keyworker.outbound.webhooks.urls import UrlPolicy, UrlRefused

PUBLIC = "93.184.215.14"


def aws(*answers: str) -> UrlPolicy:
    """The AWS policy with a resolver that answers ``answers`` for any name (no DNS)."""
    return UrlPolicy(allow_loopback=False, resolve=lambda host, port: list(answers))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.0.0.7",  # the VPC
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # instance metadata
        "169.254.170.2",  # ECS task metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fd00:ec2::254",  # the EC2 IPv6 metadata endpoint
        "fc00::5",
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "::ffff:169.254.169.254",
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "::",
    ],
)
def test_private_addresses_are_refused_on_aws(address: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        aws(address).addresses("https://hooks.example.com/in")
    assert refused.value.field == "url"
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlRefused):
        aws(PUBLIC).addresses(f"https://{literal}/in")


def test_every_resolved_address_must_be_public() -> None:
    assert aws(PUBLIC, "2606:2800:220:1::1").addresses("https://hooks.example.com/x") == [
        PUBLIC,
        "2606:2800:220:1::1",
    ]
    with pytest.raises(UrlRefused, match=r"10\.1\.2\.3"):
        aws(PUBLIC, "10.1.2.3").addresses("https://rebind.example.com/x")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # https only on AWS
        "http://127.0.0.1:8080/x",
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https://hooks.example.com/x#frag",
        "https:///x",
        "https://hooks.example.com:0/x",
        "https://hooks.example.com:70000/x",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\x00",
        "https://" + "a" * 2050 + ".com/",
        "nonsense",
    ],
)
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        aws(PUBLIC).addresses(url)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UrlRefused, match="does not resolve"):
        UrlPolicy(resolve=fail).addresses("https://nowhere.example/x")


def test_the_local_stack_allows_this_machine_only_and_resolves_nothing() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("no name may be resolved locally")

    local = UrlPolicy(allow_loopback=True, resolve=no_dns)
    assert local.addresses("http://127.0.0.1:9000/hooks") == ["127.0.0.1"]
    assert local.addresses("http://localhost:9000/hooks") == ["127.0.0.1"]
    assert local.addresses("https://[::1]:9000/hooks") == ["::1"]
    for url in ("http://hooks.example.com/x", "http://10.0.0.1/x", "http://169.254.169.254/"):
        with pytest.raises(UrlRefused):
            local.addresses(url)


def test_filters_accept_types_and_families_only() -> None:
    assert validate_filters(["key.*", "door.confirmed", "key.*"]) == ("door.confirmed", "key.*")
    for bad in ("key.exploded", "heartbeat.*", "door.heartbeat", "*"):
        with pytest.raises(ValueError, match="unknown event"):
            validate_filters([bad])
    assert matches(("key.*",), "key.revoked")
    assert not matches(("key.*",), "door.confirmed")
    assert matches((), "door.confirmed")
    assert matches(("door.confirmed",), "webhook.test")


@given(
    attempt=st.integers(min_value=1, max_value=backoff.MAX_ATTEMPTS - 1),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_is_bounded_by_the_schedule_and_jittered(attempt: int, fraction: float) -> None:
    delay = backoff.retry_delay(attempt, lambda low, high: low + (high - low) * fraction)
    assert 0.0 <= delay <= backoff.SCHEDULE[attempt - 1]
    assert delay == pytest.approx(backoff.SCHEDULE[attempt - 1] * fraction)


@given(attempt=st.integers(min_value=1, max_value=backoff.MAX_ATTEMPTS - 1))
def test_backoff_with_the_real_random_source_stays_in_bounds_and_varies(attempt: int) -> None:
    delays = {backoff.retry_delay(attempt) for _ in range(20)}
    assert all(0.0 <= d <= backoff.SCHEDULE[attempt - 1] for d in delays)
    assert len(delays) > 1  # jittered: not one fixed wait


def test_the_schedule_grows_over_hours_and_ends() -> None:
    assert list(backoff.SCHEDULE) == sorted(backoff.SCHEDULE)
    assert sum(backoff.SCHEDULE) >= 12 * 3600
    assert backoff.SCHEDULE[0] <= 5
    with pytest.raises(ValueError, match="no retry"):
        backoff.retry_delay(backoff.MAX_ATTEMPTS)
    with pytest.raises(ValueError, match="no retry"):
        backoff.retry_delay(0)
