"""Mutual TLS between a coordinator and its daemons: a daemon with a certificate of the
installation's CA joins and its node feeds a node on the coordinator's machine; a peer
without one (no certificate, another CA's, or plain TCP) cannot join, read data or send
commands. Certificates are made here with the `openssl` commands the docs show."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dora_api import contract
from dora_api.contract import MachineKeys
from tests.conftest import dora, wait_until
from tests.integration.cluster import (
    Daemon,
    free_port,
    got_lines,
    stop_all,
    up_listening,
    wait_running,
    workers,
)

SUBJECT_EXTENSIONS = ("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                      "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n")


def openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr


def make_ca(name: str, cwd: Path) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out",
            f"{name}.pem", cwd=cwd)


def make_cert(name: str, ca: str, cwd: Path) -> list[str]:
    """The `--tls-*` options of a participant whose certificate `ca` signed."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
            f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(SUBJECT_EXTENSIONS)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
            cwd=cwd)
    return ["--tls-ca", str(cwd / f"{ca}.pem"), "--tls-cert", str(cwd / f"{name}.pem"),
            "--tls-key", str(cwd / f"{name}.key")]


@pytest.fixture
def certificates(tmp_path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    folder = tmp_path / "tls"
    folder.mkdir()
    make_ca("ca", folder)
    make_ca("other-ca", folder)
    return folder


class Peer:
    """A zenoh session of our own dialing the coordinator: what it reads and whether it
    got in. `tls`: (ca, cert, key) paths, or only the CA (no client certificate)."""

    def __init__(self, endpoint: str, ca: str | None = None, cert: str | None = None,
                 key: str | None = None):
        import zenoh

        config = contract.zenoh_config([], [endpoint])
        if ca:
            config.insert_json5("transport/link/tls/root_ca_certificate", f'"{ca}"')
        if cert:
            config.insert_json5("transport/link/tls/connect_certificate", f'"{cert}"')
            config.insert_json5("transport/link/tls/connect_private_key", f'"{key}"')
            config.insert_json5("transport/link/tls/enable_mtls", "true")
        self.session = zenoh.open(config)
        self.samples: list[str] = []
        self._lock = threading.Lock()
        self._subscriber = self.session.declare_subscriber("**", self._on_sample)

    def _on_sample(self, sample) -> None:
        with self._lock:
            self.samples.append(str(sample.key_expr))

    def routers(self) -> int:
        return len(list(self.session.info.routers_zid()))

    def joined(self, info: contract.DaemonInfo) -> bool:
        replies = self.session.get(MachineKeys.join, payload=contract.encode_record(info),
                                   timeout=1.0)
        return any(reply.ok is not None for reply in replies)

    def close(self) -> None:
        self.session.close()


@pytest.mark.timeout(120)
def test_with_mutual_tls_only_peers_with_the_cas_certificate_get_in(dataflow, certificates,
                                                                    control_dirs, tmp_path):
    port = free_port()
    endpoint = f"tls/127.0.0.1:{port}"
    up_listening(endpoint, *make_cert("coordinator", "ca", certificates))
    m1 = Daemon("m1", [endpoint], tmp_path, *make_cert("m1", "ca", certificates))
    rogue = Daemon("m2", [endpoint], tmp_path, *make_cert("m2", "other-ca", certificates))
    plain = Daemon("m3", [f"tcp/127.0.0.1:{port}"], tmp_path)
    peers: list[Peer] = []
    try:
        wait_until(lambda: m1.events("daemon_joined"), 20, "m1 joined over TLS")
        file = dataflow("""
            nodes:
              - id: src
                path: {nodes}/tagged.py
                args: --tag T
                inputs: {tick: dora/timer/millis/50}
                outputs: [out]
                deploy: {machine: m1}
              - id: sink
                path: {nodes}/tagged.py
                inputs: {data: src/out}
        """)
        started = dora("start", str(file), "--name", "secure")
        assert started.returncode == 0, started.stderr
        found = wait_running("secure", ["src", "sink"])
        assert (found["src"]["machine"], found["sink"]["machine"]) == ("m1", "local")
        wait_until(lambda: got_lines("secure", "sink") >= 5, 20,
                   "the local sink receiving from m1 over TLS")

        certified = make_cert("observer", "ca", certificates)[1::2]
        foreign = make_cert("intruder", "other-ca", certificates)[1::2]
        peers += [Peer(endpoint, *certified), Peer(endpoint, str(certificates / "ca.pem")),
                  Peer(endpoint, str(certificates / "ca.pem"), *foreign[1:]),
                  Peer(f"tcp/127.0.0.1:{port}")]
        good, *refused = peers
        wait_until(lambda: any(k.endswith("/src/out") for k in list(good.samples)), 10,
                   "a peer with a certificate of the CA reading the data (the control case)")
        assert good.routers() == 1
        info = contract.DaemonInfo("m9", "x", 1, "h", "0", contract.PROTOCOL_VERSION, "/",
                                   "python", "/tmp", 1.0, {"memory": "sampling",
                                                            "cpu": "sampling",
                                                            "cpu_throttle": False})
        for peer in refused:
            assert peer.routers() == 0 and not peer.joined(info)
            peer.session.put(MachineKeys.to("m1"), contract.encode_record(
                contract.KillAll(started.stdout.strip())))
        time.sleep(1.0)  # what a refused peer sent would have arrived by now
        own = MachineKeys.to("m1")  # a session hears its own puts, nothing else here
        assert [[key for key in peer.samples if key != own] for peer in refused] == [[]] * 3
        assert workers("secure")["src"]["pid"] == found["src"]["pid"]  # the kill never came
        assert not rogue.events("daemon_joined") and not plain.events("daemon_joined")
        listed = dora("status", "secure", "--json")
        assert '"machine": "m2"' not in listed.stdout

        # the control case: the same command from a certified peer does reach m1
        good.session.put(MachineKeys.to("m1"), contract.encode_record(
            contract.KillAll(started.stdout.strip())))
        wait_until(lambda: workers("secure")["src"]["restarts"] == 1, 20,
                   "src killed by the certified peer's command and restarted")

        stopped = dora("stop", "secure")
        assert stopped.returncode == 0, stopped.stderr
        wait_until(lambda: not m1.children(), 5, "no node left on m1")
        stop_all([m1, rogue, plain])
    finally:
        for peer in peers:
            peer.close()
        dora("destroy")
        for daemon in (m1, rogue, plain):
            daemon.kill()
