"""The network options of `dora up` and `dora daemon`: checked before anything starts."""

from __future__ import annotations

import pytest

from dora_api.contract import TlsFiles
from dora_supervisor.errors import DoraError
from dora_supervisor.network import DEFAULT_LEASE_S, NetworkSettings, network_settings


def test_plain_tcp_endpoints_and_the_default_lease():
    assert network_settings(["tcp/0.0.0.0:7447"], None, None, None, None, None) == \
        NetworkSettings(("tcp/0.0.0.0:7447",), (), DEFAULT_LEASE_S, None)


def test_tls_needs_its_three_files_and_only_tls_endpoints():
    settings = network_settings(["tls/10.0.0.1:7447"], ["tls/10.0.0.2:7447"], 1.0,
                                "ca.pem", "me.pem", "me.key")
    assert settings.tls == TlsFiles("ca.pem", "me.pem", "me.key")


@pytest.mark.parametrize("listen, connect, lease, tls, error", [
    (["tcp/host"], None, None, (None,) * 3, "--listen tcp/host: expected tcp/HOST:PORT"),
    (["udp/h:1"], None, None, (None,) * 3, "--listen udp/h:1: expected tcp/HOST:PORT"),
    (None, ["tls/h:1"], None, (None,) * 3,
     "--connect tls/h:1: a tls/ endpoint needs --tls-ca, --tls-cert and --tls-key"),
    (["tcp/h:1"], None, None, ("c", "e", "k"),
     "--listen tcp/h:1: with TLS configured every endpoint must be tls/ (tls/h:1)"),
    (["tls/h:1"], None, None, ("c", None, "k"),
     "TLS needs all of --tls-ca, --tls-cert and --tls-key (missing: --tls-cert)"),
    (["tcp/h:1"], None, 0.0, (None,) * 3, "--lease must be more than 0 s, not 0"),
])
def test_a_wrong_option_is_a_one_line_error_naming_it(listen, connect, lease, tls, error):
    with pytest.raises(DoraError) as caught:
        network_settings(listen, connect, lease, *tls)
    assert str(caught.value).startswith(error) and "\n" not in str(caught.value)
