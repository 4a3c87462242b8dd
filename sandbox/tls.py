"""A local certificate authority and a server certificate for the sandbox over https.

Pagero's staging is https only, and the staging profile rightly refuses an http endpoint.
To rehearse the staging checklist on one machine, ``python -m sandbox --tls`` serves the
sandbox over https with a certificate for ``localhost``, ``127.0.0.1`` and ``::1``, signed
by a CA made here, once, into a folder (``SANDBOX_TLS_DIR``, default
``instance/sandbox-tls``). The app trusts that CA, and only it, through
``REQUESTS_CA_BUNDLE=<folder>/ca.pem`` (pagero_oauth/http.py); a browser trusts it once its
``ca.pem`` is imported (docs/staging-qa.md, "Rehearse on your machine").

The files are kept: the next run reuses them while they are valid, so a CA imported into a
browser stays the one that signs. The keys never leave the folder (``0600``) and serve
this loopback stand-in only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DIR = "instance/sandbox-tls"
#: The names the server certificate is good for: the loopback host, in every spelling.
DNS_NAMES = ("localhost",)
IP_ADDRESSES = ("127.0.0.1", "::1")
#: Short enough that a forgotten CA in a browser does not trust much for long.
VALID_DAYS = 90
#: Made again this long before they expire.
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class LocalCertificates:
    """The paths of one local CA and the server certificate it signed."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def key(self) -> Path:
        return self.folder / "server-key.pem"


def ensure_local_certificates(
    folder: str | os.PathLike[str] = DEFAULT_DIR, *, client_auth: bool = False
) -> LocalCertificates:
    """The CA and server certificate in ``folder``: the ones there while valid, else new.

    ``client_auth``: the certificate may also stand for its holder as a TLS client. A
    Redis Cluster node shows it so on the cluster bus, where the peer always asks for
    one (the tests' TLS cluster); the sandbox's own certificate serves https only.
    """
    found = LocalCertificates(Path(folder))
    if not _still_valid(found, _usages(client_auth)):
        _make(found, _usages(client_auth))
    return found


def _usages(client_auth: bool) -> list[x509.ObjectIdentifier]:
    extra = [ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else []
    return [ExtendedKeyUsageOID.SERVER_AUTH, *extra]


def _still_valid(found: LocalCertificates, usages: list[x509.ObjectIdentifier]) -> bool:
    if not all(p.exists() for p in (found.ca_cert, found.cert, found.key)):
        return False
    try:
        cert = x509.load_pem_x509_certificate(found.cert.read_bytes())
        has = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    now = datetime.datetime.now(datetime.UTC)
    return cert.not_valid_after_utc - RENEW_BEFORE > now and set(usages) <= set(has)


def _make(found: LocalCertificates, usages: list[x509.ObjectIdentifier]) -> None:
    found.folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pagero sandbox local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in DNS_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in IP_ADDRESSES]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    # The CA's key is not kept: nothing else is ever signed with it.
    _write(found.key, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, _NO_PASSWORD))
    _write(found.cert, server.public_bytes(pem))
    _write(found.ca_cert, ca.public_bytes(pem))


_NO_PASSWORD = serialization.NoEncryption()


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
