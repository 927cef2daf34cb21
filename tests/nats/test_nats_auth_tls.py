"""Authentication (token, user/password, NKey, .creds) and TLS against real servers."""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import nkeys
import pytest
import trustme
from nats_helpers import config_server, wait_until

from anystream import nats
from anystream.nats import AuthorizationError
from anystream.nats.auth import parse_creds, public_key, sign_nonce
from anystream.testing import NatsServer

pytestmark = pytest.mark.anyio

StartServer = Callable[[NatsServer], NatsServer]


async def _roundtrip(nc: nats.Client) -> bytes:
    sub = await nc.subscribe("auth.check")
    await nc.publish("auth.check", b"in")
    return (await sub.next_msg(timeout=2)).data


async def test_token_auth(tmp_path: Path, server_factory: StartServer) -> None:
    server = server_factory(config_server(tmp_path, 'authorization { token: "s3cret" }'))
    async with nats.connect(server.url, token="s3cret") as nc:
        assert await _roundtrip(nc) == b"in"
    async with nats.connect(f"nats://s3cret@127.0.0.1:{server.port}") as nc:
        assert await _roundtrip(nc) == b"in"
    with pytest.raises(AuthorizationError, match="refused the credentials"):
        async with nats.connect(server.url, token="wrong"):
            pass


async def test_user_password_auth(tmp_path: Path, server_factory: StartServer) -> None:
    config = 'authorization { user: "alice", password: "wonder land" }'
    server = server_factory(config_server(tmp_path, config))
    async with nats.connect(server.url, user="alice", password="wonder land") as nc:
        assert await _roundtrip(nc) == b"in"
    async with nats.connect(f"nats://alice:wonder%20land@127.0.0.1:{server.port}") as nc:
        assert await _roundtrip(nc) == b"in"
    with pytest.raises(AuthorizationError):
        async with nats.connect(server.url, user="alice", password="nope"):
            pass
    with pytest.raises(AuthorizationError):
        async with nats.connect(server.url):
            pass


def _user_seed() -> bytes:
    return bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))


async def test_nkey_auth(tmp_path: Path, server_factory: StartServer) -> None:
    seed = _user_seed()
    config = f'authorization {{ users = [ {{ nkey: "{public_key(seed)}" }} ] }}'
    server = server_factory(config_server(tmp_path, config))
    async with nats.connect(server.url, nkey_seed=seed.decode()) as nc:
        assert await _roundtrip(nc) == b"in"
    with pytest.raises(AuthorizationError):
        async with nats.connect(server.url, nkey_seed=_user_seed()):
            pass


def test_nonce_signature_verifies_with_the_public_key() -> None:
    seed = _user_seed()
    signature = sign_nonce(seed, "abc")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert nkeys.from_seed(seed).verify(b"abc", raw)


def test_creds_file_is_parsed_into_jwt_and_seed() -> None:
    seed = _user_seed().decode()
    text = f"""-----BEGIN NATS USER JWT-----
eyJhbGciOiJlZDI1NTE5In0.eyJzdWIiOiJVQUJDIn0.c2ln
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.

-----BEGIN USER NKEY SEED-----
{seed}
------END USER NKEY SEED------

*************************************************************
"""
    creds = parse_creds(text)
    assert creds.jwt == "eyJhbGciOiJlZDI1NTE5In0.eyJzdWIiOiJVQUJDIn0.c2ln"
    assert creds.seed == seed.encode()
    with pytest.raises(AuthorizationError, match="JWT"):
        parse_creds("not a creds file")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Key:
    """An NKey pair of one role (operator, account or user)."""

    def __init__(self, prefix: int) -> None:
        self.seed = bytes(nkeys.encode_seed(os.urandom(32), prefix))
        self.pair = nkeys.from_seed(bytearray(self.seed))
        self.public = self.pair.public_key.decode()

    def issue(self, subject: str, claims: dict[str, object]) -> str:
        """A JWT about ``subject`` signed by this key (as nats-server expects)."""
        header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        body = {"jti": _b64(os.urandom(16)), "iat": int(time.time()), "iss": self.public}
        body |= {"sub": subject, "name": subject[:8], "nats": {"version": 2, **claims}}
        payload = _b64(json.dumps(body).encode())
        signature = self.pair.sign(f"{header}.{payload}".encode())
        return f"{header}.{payload}.{_b64(signature)}"


def _creds(jwt: str, seed: bytes) -> str:
    return (
        f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed.decode()}\n------END USER NKEY SEED------\n"
    )


async def test_creds_file_auth_in_operator_mode(
    tmp_path: Path, server_factory: StartServer
) -> None:
    operator = _Key(nkeys.PREFIX_BYTE_OPERATOR)
    account = _Key(nkeys.PREFIX_BYTE_ACCOUNT)
    user = _Key(nkeys.PREFIX_BYTE_USER)
    no_limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1}
    no_limits |= {"wildcards": True, "conn": -1, "leaf": -1}
    account_jwt = operator.issue(account.public, {"type": "account", "limits": no_limits})
    config = (
        f'operator: "{operator.issue(operator.public, {"type": "operator"})}"\n'
        f'resolver: MEMORY\nresolver_preload: {{ {account.public}: "{account_jwt}" }}\n'
    )
    server = server_factory(config_server(tmp_path, config))
    user_claims = {"type": "user", "subs": -1, "data": -1, "payload": -1}
    good = tmp_path / "user.creds"
    good.write_text(_creds(account.issue(user.public, user_claims), user.seed))
    async with nats.connect(server.url, creds=good) as nc:
        assert await _roundtrip(nc) == b"in"

    stranger = _Key(nkeys.PREFIX_BYTE_ACCOUNT)  # an account the server does not know
    bad = tmp_path / "stranger.creds"
    bad.write_text(_creds(stranger.issue(user.public, user_claims), user.seed))
    with pytest.raises(AuthorizationError):
        async with nats.connect(server.url, creds=bad):
            pass


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(tmp_path: Path, ca: trustme.CA, start: StartServer) -> NatsServer:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    config = f'tls {{ cert_file: "{cert_file}", key_file: "{key_file}" }}'
    return start(config_server(tmp_path, config))


async def test_tls_with_a_given_ssl_context(
    tmp_path: Path, ca: trustme.CA, server_factory: StartServer
) -> None:
    server = _tls_server(tmp_path, ca, server_factory)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with nats.connect(f"tls://127.0.0.1:{server.port}", tls=context) as nc:
        assert nc.server_info.get("tls_required")
        assert await _roundtrip(nc) == b"in"


async def test_tls_refuses_an_untrusted_certificate(
    tmp_path: Path, ca: trustme.CA, server_factory: StartServer
) -> None:
    server = _tls_server(tmp_path, ca, server_factory)
    with pytest.raises(nats.NoServersError, match="CERTIFICATE_VERIFY_FAILED"):
        async with nats.connect(f"tls://127.0.0.1:{server.port}", tls=ssl.create_default_context()):
            pass


async def test_permission_violation_is_reported_and_the_connection_stays(
    tmp_path: Path, server_factory: StartServer
) -> None:
    config = (
        'authorization { users = [ { user: "bob", password: "pw", '
        'permissions: { publish: { deny: ["secret.>"] } } } ] }'
    )
    server = server_factory(config_server(tmp_path, config))
    errors: list[Exception] = []
    async with nats.connect(server.url, user="bob", password="pw", error_cb=errors.append) as nc:
        await nc.publish("secret.plans", b"x")
        await nc.flush()
        await wait_until(lambda: bool(errors))
        assert isinstance(errors[0], nats.ServerError)
        assert "Permissions Violation" in str(errors[0])
        assert nc.is_connected and await _roundtrip(nc) == b"in"
