"""TLS to a database when the inventory asks for it, against a real MariaDB started with
a certificate from a CA made here: the right CA connects (encrypted), a wrong CA or a
certificate that does not name the host dialled is refused with exit 8."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sidebyside.db import DbEndpoint
from sidebyside.db.client import ReadOnlySession, TargetSession
from sidebyside.db.identity import server_identity
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.errors import UnreachableError

pytestmark = pytest.mark.integration


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _ca(directory: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _server_cert(directory: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                 names: list[x509.GeneralName]) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sbs-db")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(db_root: Path) -> Iterator[tuple[MariaDBServer, Path, Path]]:
    """A MariaDB on 127.0.0.1 whose certificate names only `localhost`; the CA that
    signed it, and another CA that did not."""
    pki = db_root / "pki"
    pki.mkdir(exist_ok=True)
    ca, ca_key = _ca(pki, "right-ca")
    _ca(pki, "wrong-ca")
    cert, key = _server_cert(pki, ca, ca_key, [x509.DNSName("localhost")])
    server = MariaDBServer(db_root / "tls", host="127.0.0.1", name="tls",
                           options={"ssl-ca": str(pki / "right-ca.pem"), "ssl-cert": str(cert),
                                    "ssl-key": str(key)})
    server.start()
    try:
        yield server, pki / "right-ca.pem", pki / "wrong-ca.pem"
    finally:
        server.stop()


def _endpoint(server: MariaDBServer, host: str, ca: Path) -> DbEndpoint:
    return DbEndpoint(host, server.port, "root", server.root_password, tls_ca=str(ca),
                      connect_timeout=5.0)


def test_the_right_ca_connects_encrypted(tls_server: tuple[MariaDBServer, Path, Path]
                                         ) -> None:
    server, right, _ = tls_server
    for session_type in (ReadOnlySession, TargetSession):
        with session_type(_endpoint(server, "localhost", right)) as session:
            cipher = session.query_one("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            assert cipher is not None and cipher[1], cipher
    assert server_identity(_endpoint(server, "localhost", right)).port == server.port


def test_a_wrong_ca_is_refused_with_exit_8(tls_server: tuple[MariaDBServer, Path, Path]
                                           ) -> None:
    server, _, wrong = tls_server
    with pytest.raises(UnreachableError) as caught:
        server_identity(_endpoint(server, "localhost", wrong))
    assert caught.value.exit_code == 8
    assert server.root_password not in caught.value.message


def test_a_certificate_not_naming_the_host_is_refused(
        tls_server: tuple[MariaDBServer, Path, Path]) -> None:
    server, right, _ = tls_server
    # the certificate names `localhost`, not 127.0.0.1: same server, wrong identity
    with pytest.raises(UnreachableError):
        ReadOnlySession(_endpoint(server, "127.0.0.1", right))
    # without tls_ca nothing is verified (and nothing was asked for): it connects
    with ReadOnlySession(replace(_endpoint(server, "127.0.0.1", right), tls_ca=None)) as s:
        assert s.value("SELECT 1") == 1


def test_tls_asked_of_a_server_without_tls_is_refused(source: DbEndpoint,
                                                      tls_server: tuple[MariaDBServer, Path,
                                                                        Path]) -> None:
    _, right, _ = tls_server
    with pytest.raises(UnreachableError):
        ReadOnlySession(replace(source, tls_ca=str(right), connect_timeout=5.0))
