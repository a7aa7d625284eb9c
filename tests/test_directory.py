"""LDAPDirectory against a real OpenLDAP (slapd) started here on 127.0.0.1.

The fixture writes a throwaway slapd.conf and mdb database into a temp folder, loads it
with slapadd (colleagues with RSA and EC certificates, one published only as
userSMIMECertificate, one from an untrusted CA, one expired), serves plain LDAP (for
StartTLS) and ldaps with a server certificate from a test TLS CA, and stops it afterwards.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as dt
import pickle
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from test_api_certificates import bare_message
from transport_servers import make_tls

import smime
from smime.cms import SignerIdentifier
from smime.errors import (
    CertificateError,
    InvalidOptionError,
    TransportError,
    UnsupportedError,
    UsageError,
)
from smime.store import CertificateSource, HarvestReason
from smime.testing import TestPKI, issue_certificate, make_ca

pytest.importorskip("ldap3")

from smime.directory import DirectoryLookup, LDAPDirectory, escape_filter_value

BASE = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{BASE}"
SCHEMAS = ("core", "cosine", "inetorgperson")


@dataclass(frozen=True)
class Slapd:
    ldap_url: str  # plain LDAP: StartTLS, or plaintext with the opt-out
    ldaps_url: str
    tls_ca: Path  # the CA that issued the server's TLS certificate
    log: Path
    trust: smime.TrustStore  # the mail PKI's root
    intermediate: x509.Certificate
    rogue: smime.Identity  # a user certificate from a CA nobody trusts
    expired: smime.Identity

    def searches(self) -> int:
        """How many searches slapd has logged (its stats level: one SRCH line each)."""
        return len(re.findall(rb" SRCH base=", self.log.read_bytes()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tls_material(folder: Path) -> tuple[Path, Path, Path]:
    """A TLS CA and a server certificate for 127.0.0.1 (IP address only, no DNS name)."""
    tls = make_tls(folder, dns_names=())
    return tls.root_path, folder / "tls-server.pem", folder / "tls-server.key"


def _entry(uid: str, mail: str, **binary: list[bytes]) -> str:
    lines = [f"dn: uid={uid},ou=people,{BASE}", "objectClass: inetOrgPerson",
             f"uid: {uid}", f"cn: {uid}", f"sn: {uid}", f"mail: {mail}"]
    for attribute, values in binary.items():
        name = attribute.replace("_binary", ";binary")
        lines += [f"{name}:: {base64.b64encode(v).decode()}" for v in values]
    return "\n".join(lines) + "\n\n"


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def directory_server(
    slapd: str, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Slapd]:
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "db").mkdir()
    tls_ca, server_cert, server_key = _tls_material(folder)
    schemas = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
    conf = folder / "slapd.conf"
    conf.write_text(f"""{schemas}
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {tls_ca}
TLSCertificateFile {server_cert}
TLSCertificateKeyFile {server_key}
database mdb
maxsize 10485760
suffix "{BASE}"
rootdn "{ROOT_DN}"
rootpw secret
directory {folder}/db
access to * by * read
""")
    rogue_ca = make_ca("Rogue CA")
    rogue = issue_certificate(rogue_ca, "mallory@example.com")
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    expired = issue_certificate(pki.intermediate, "oscar@example.com", not_before=past,
                                not_after=past + dt.timedelta(days=30))
    shared = [issue_certificate(pki.intermediate, "team@example.com") for _ in range(3)]
    carol = pkcs7.serialize_certificates(
        [pki["carol"].certificate, pki.intermediate.certificate], serialization.Encoding.DER)
    ldif = (
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
        f"o: Example\n\ndn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n"
        + _entry("alice", "alice@example.com",
                 userCertificate_binary=[_der(pki["alice"].certificate)])
        + _entry("dave", "Dave@Example.com",
                 userCertificate_binary=[_der(pki["dave"].certificate)])
        + _entry("carol", "carol@example.com", userSMIMECertificate=[carol])
        + _entry("mallory", "mallory@example.com",
                 userCertificate_binary=[_der(rogue.certificate)])
        + _entry("oscar", "oscar@example.com", userCertificate_binary=[_der(expired.certificate)])
        + _entry("eve", "eve@example.com",
                 userCertificate_binary=[_der(pki["alice"].certificate)])
        + _entry("erin", "erin@example.com",
                 userCertificate_binary=[_der(pki["erin"].certificate)])
        + "".join(_entry(f"team{i}", "team@example.com",
                         userCertificate_binary=[_der(member.certificate)])
                  for i, member in enumerate(shared))
        + _entry("junk", "junk@example.com", userCertificate_binary=[b"\x30\x03\x02\x01\x00"])
    )
    (folder / "data.ldif").write_text(ldif)
    subprocess.run([slapd, "-T", "add", "-f", str(conf), "-l", str(folder / "data.ldif")],
                   check=True, capture_output=True, timeout=60)
    plain, tls = _free_port(), _free_port()
    log = folder / "slapd.log"
    with log.open("wb") as out:
        # -d stats: stay in the foreground and log every operation (the cache test counts them)
        process = subprocess.Popen(
            [slapd, "-f", str(conf), "-d", "stats",
             "-h", f"ldap://127.0.0.1:{plain}/ ldaps://127.0.0.1:{tls}/"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", tls), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"slapd did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield Slapd(
            ldap_url=f"ldap://127.0.0.1:{plain}", ldaps_url=f"ldaps://127.0.0.1:{tls}",
            tls_ca=tls_ca, log=log, trust=smime.TrustStore.from_pem(pki.root_path),
            intermediate=pki.intermediate.certificate, rogue=rogue, expired=expired,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    smime.clear_caches()


def _directory(server: Slapd, *, starttls: bool = False, **options: object) -> LDAPDirectory:
    """A directory over ldaps (or StartTLS), trusting the mail PKI's root."""
    url = server.ldap_url if starttls else server.ldaps_url
    options.setdefault("trust", server.trust)
    options.setdefault("intermediates", [server.intermediate])
    return LDAPDirectory(url, BASE, ca_file=server.tls_ca, **options)  # type: ignore[arg-type]


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "bob@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "quarterly numbers"
    msg.set_content("Balance: 1,234.56 EUR\n")
    return msg


# ----------------------------------------------------------------------------- finding


@pytest.mark.interop
@pytest.mark.parametrize("starttls", [False, True], ids=["ldaps", "starttls"])
def test_encrypt_to_a_colleague_found_only_in_the_directory(
    directory_server: Slapd, pki: TestPKI, starttls: bool, openssl: str, tmp_path: Path
) -> None:
    directory = _directory(directory_server, starttls=starttls)
    assert isinstance(directory, CertificateSource)
    sealed = smime.encrypt(_message(), "alice@example.com", store=directory)
    opened = smime.decrypt(sealed, pki["alice"].identity)
    assert "Balance: 1,234.56 EUR" in opened.get_content()
    path = tmp_path / "sealed.eml"
    path.write_bytes(sealed.as_bytes())
    out = subprocess.run(
        [openssl, "cms", "-decrypt", "-in", str(path), "-recip", str(pki["alice"].cert_path),
         "-inkey", str(pki["alice"].key_path)], capture_output=True, check=True, timeout=60,
    ).stdout
    assert b"Balance: 1,234.56 EUR" in out


@pytest.mark.interop
def test_ec_colleague_published_as_usersmimecertificate_only(
    directory_server: Slapd, pki: TestPKI
) -> None:
    """The PKCS#7 entry carries the intermediate, so no intermediates= are needed."""
    directory = _directory(directory_server, intermediates=[])
    assert directory.find("carol@example.com") == pki["carol"].certificate
    sealed = smime.encrypt(_message(), "Carol <CAROL@example.com>", store=directory)
    assert "Balance" in smime.decrypt(sealed, pki["carol"].identity).get_content()


@pytest.mark.interop
def test_address_case_and_the_directory_s_spelling_do_not_matter(
    directory_server: Slapd, pki: TestPKI
) -> None:
    directory = _directory(directory_server)
    assert directory.find("dave@EXAMPLE.com") == pki["dave"].certificate
    assert directory.certificates("dave@example.com") == (pki["dave"].certificate,)


@pytest.mark.interop
def test_a_certificate_from_an_untrusted_ca_is_not_used(directory_server: Slapd) -> None:
    directory = _directory(directory_server)
    found = directory.lookup("mallory@example.com")
    assert found.certificates == ()
    assert [r.reason for r in found.rejected] == [HarvestReason.UNTRUSTED]
    assert found.rejected[0].certificate == directory_server.rogue.certificate
    with pytest.raises(CertificateError, match=r"no usable certificate for mallory@example\.com"):
        smime.encrypt(_message(), "mallory@example.com", store=directory)
    # what trust= adds: without it the TLS-authenticated directory is the authority
    assert _directory(directory_server, trust=None).find("mallory@example.com") == (
        directory_server.rogue.certificate)


@pytest.mark.interop
def test_expired_unreadable_and_unknown_entries_are_not_used(directory_server: Slapd) -> None:
    directory = _directory(directory_server, trust=None)
    expired = directory.lookup("oscar@example.com")
    assert expired.certificates == ()
    assert [r.reason for r in expired.rejected] == [HarvestReason.NOT_VALID_NOW]
    sign_only = directory.lookup("erin@example.com")  # Ed25519: signs, cannot receive
    assert [r.reason for r in sign_only.rejected] == [HarvestReason.CANNOT_ENCRYPT]
    assert directory.lookup("junk@example.com") == DirectoryLookup("junk@example.com", (), ())
    assert directory.find("nobody@example.com") is None
    # ...while at a time it was valid, it is
    then = directory_server.expired.certificate.not_valid_before_utc + dt.timedelta(days=1)
    assert directory.find("oscar@example.com", at=then) == directory_server.expired.certificate


@pytest.mark.interop
def test_a_certificate_for_another_address_is_not_used(
    directory_server: Slapd, pki: TestPKI
) -> None:
    """An entry whose mail is eve's but whose certificate names alice: refused for eve."""
    found = _directory(directory_server).lookup("eve@example.com")
    assert found.certificates == ()
    assert [r.reason for r in found.rejected] == [HarvestReason.ADDRESS_MISMATCH]
    assert found.rejected[0].certificate == pki["alice"].certificate


# ----------------------------------------------------------------------------- hostile input


@pytest.mark.interop
@pytest.mark.parametrize("address", [
    "*@example.com",
    "alice@example.com)(mail=*",
    "x@example.com)(|(mail=*",
    "al*@example.com",
])
def test_an_address_cannot_change_the_query(directory_server: Slapd, address: str) -> None:
    """Unescaped, each of these matches entries (or breaks the filter); escaped, nothing."""
    directory = _directory(directory_server, trust=None)
    found = directory.lookup(address)
    assert (found.certificates, found.rejected) == ((), ())


def test_filter_escaping_follows_rfc_4515() -> None:
    assert escape_filter_value("a*b(c)d\\e\0f@x") == "a\\2ab\\28c\\29d\\5ce\\00f@x"


@pytest.mark.interop
def test_caps_on_what_the_directory_returns(directory_server: Slapd, pki: TestPKI) -> None:
    tiny = _directory(directory_server, max_value_size=100)
    assert tiny.find("alice@example.com") is None  # a certificate is more than 100 bytes
    one = _directory(directory_server, intermediates=[], max_certificates=1)
    assert one.find("carol@example.com") is None  # the PKCS#7's second certificate is cut
    assert _directory(directory_server, intermediates=[], max_certificates=2).find(
        "carol@example.com") == pki["carol"].certificate


@pytest.mark.interop
def test_at_most_max_entries_are_read(directory_server: Slapd) -> None:
    """Three entries share team@; slapd stops at the size limit the client sends."""
    assert len(_directory(directory_server).certificates("team@example.com")) == 3
    assert len(_directory(directory_server, max_entries=2).certificates("team@example.com")) == 2


def _hostile_server(send: Callable[[socket.socket], bool]) -> Iterator[str]:
    """A plain-TCP 'directory' on 127.0.0.1 that answers any request by calling ``send``
    until it returns False (then hangs up)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)  # the search request
                while not stop.is_set() and send(conn):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(10)


def _hostile(url: str, pki: TestPKI, **options: object) -> LDAPDirectory:
    return LDAPDirectory(url, BASE, starttls=False, allow_plaintext=True,
                         trust=smime.TrustStore.from_pem(pki.root_path), **options)  # type: ignore[arg-type]


def test_a_huge_answer_is_cut_at_max_response_size(pki: TestPKI) -> None:
    """An LDAPMessage announcing 4 MiB, then the bytes: the client stops at its budget.
    (Unbudgeted, ldap3 gathers an answer by concatenation: quadratic in its size.)"""
    sent = [0]

    def flood(conn: socket.socket) -> bool:
        if sent[0] == 0:
            conn.sendall(b"\x30\x84" + (4 * 1024 * 1024).to_bytes(4, "big"))
        conn.sendall(bytes(65536))
        sent[0] += 65536
        return sent[0] < 4 * 1024 * 1024

    for url in _hostile_server(flood):
        with pytest.raises(TransportError, match="exceeds max_response_size=262144"):
            _hostile(url, pki, max_response_size=256 * 1024).find("alice@example.com")


def test_a_dripping_answer_is_cut_at_the_timeout(pki: TestPKI) -> None:
    """A byte every 0.2 s never trips a per-read timeout; the whole answer has one too."""
    first = [True]

    def drip(conn: socket.socket) -> bool:
        conn.sendall(b"\x30\x84\x00\x10\x00\x00" if first[0] else b"\x00")
        first[0] = False
        time.sleep(0.2)
        return time.monotonic() - started < 8

    started = time.monotonic()
    for url in _hostile_server(drip):
        with pytest.raises(TransportError, match="in time"):
            _hostile(url, pki, timeout=1).find("alice@example.com")
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("answer", [
    b"\x30\x03\x02\x01\x00",  # an LDAPMessage with no operation
    b"\x30\x06\x02\x01\x01\x64\x01\x00",  # a searchResEntry that is one zero byte
    b"\x30\x05\x02\x01\x01\x65\x00",  # an empty searchResDone
    b"\x30\x0c\x02\x01\x01\x64\x07\x04\x00\x30\x03\x30\x01\x00",  # a broken attribute
])
def test_a_malformed_answer_is_a_transport_error(pki: TestPKI, answer: bytes) -> None:
    """ldap3 raised IndexError or KeyError on these; the caller gets TransportError."""
    sent = [False]

    def once(conn: socket.socket) -> bool:
        if not sent[0]:
            conn.sendall(answer)
            sent[0] = True
        time.sleep(0.1)
        return True

    for url in _hostile_server(once):
        with pytest.raises(TransportError, match="cannot be read"):
            _hostile(url, pki, timeout=1).find("alice@example.com")


def test_a_missing_ldap3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ldap3", None)  # import ldap3 now raises ImportError
    directory = LDAPDirectory("ldaps://127.0.0.1:1", BASE)
    with pytest.raises(UnsupportedError, match=r"smime-sdk\[ldap\]"):
        directory.find("alice@example.com")


@pytest.mark.parametrize("address", ["", "no-at-sign", "a@b\nc", 42])
def test_what_is_not_an_address_is_refused_before_any_search(address: object) -> None:
    directory = LDAPDirectory("ldaps://127.0.0.1:1", BASE)
    with pytest.raises((InvalidOptionError, UsageError)):
        directory.lookup(address)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("keyword, value, says", [
    ("timeout", 0, "more than 0"), ("timeout", -1, "number of seconds"),
    ("timeout", "30", "number of seconds"), ("timeout", float("inf"), "number of seconds"),
    ("cache_ttl", -5, "0 or more"), ("cache_ttl", True, "number of seconds"),
    ("max_entries", 0, "whole number"), ("max_response_size", 2.5, "whole number"),
    ("max_certificates", False, "whole number"),
])
def test_a_bad_number_is_refused_when_the_directory_is_made(
    keyword: str, value: object, says: str
) -> None:
    with pytest.raises(InvalidOptionError, match=rf"^{keyword}= must be .*{says}"):
        LDAPDirectory("ldaps://127.0.0.1:1", BASE, **{keyword: value})  # type: ignore[arg-type]


def test_zero_cache_ttl_turns_the_cache_off() -> None:
    assert LDAPDirectory("ldaps://127.0.0.1:1", BASE, cache_ttl=0).cache_ttl == 0


def test_plaintext_ldap_without_the_opt_out_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="plaintext"):
        LDAPDirectory("ldap://127.0.0.1:389", BASE, starttls=False)
    with pytest.raises(InvalidOptionError, match="trust="):
        LDAPDirectory("ldap://127.0.0.1:389", BASE, starttls=False, allow_plaintext=True)
    with pytest.raises(InvalidOptionError, match="not an LDAP URL"):
        LDAPDirectory("http://127.0.0.1", BASE)


@pytest.mark.interop
def test_plaintext_with_the_opt_out_and_a_trust_store(
    directory_server: Slapd, pki: TestPKI
) -> None:
    directory = LDAPDirectory(directory_server.ldap_url, BASE, starttls=False,
                              allow_plaintext=True, trust=directory_server.trust,
                              intermediates=pki.intermediate_path)  # a path: one PEM file
    assert directory.find("alice@example.com") == pki["alice"].certificate


@pytest.mark.interop
def test_the_server_certificate_is_checked(directory_server: Slapd) -> None:
    port = directory_server.ldaps_url.rsplit(":", 1)[1]
    assert _directory(directory_server).find("alice@example.com") is not None  # now cached
    # ...but not for a directory whose TLS settings differ: a hit is never weaker than a miss
    unknown_ca = LDAPDirectory(directory_server.ldaps_url, BASE)  # system roots only
    with pytest.raises(TransportError, match="certificate verify failed"):
        unknown_ca.find("alice@example.com")
    wrong_name = LDAPDirectory(f"ldaps://localhost:{port}", BASE,
                               ca_file=directory_server.tls_ca)  # cert names 127.0.0.1 only
    with pytest.raises(TransportError, match="does not name this host"):
        wrong_name.find("alice@example.com")
    starttls = LDAPDirectory(directory_server.ldap_url, BASE)
    with pytest.raises(TransportError, match="certificate verify failed"):
        starttls.find("alice@example.com")


# ----------------------------------------------------------------------------- failures


def test_server_down_is_a_transport_error() -> None:
    directory = LDAPDirectory(f"ldaps://127.0.0.1:{_free_port()}", BASE, timeout=2)
    with pytest.raises(TransportError, match=r"LDAP directory ldaps://127\.0\.0\.1:\d+: .*refused"):
        directory.find("alice@example.com")


def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        directory = LDAPDirectory(f"ldaps://127.0.0.1:{port}", BASE, timeout=1)
        started = time.monotonic()
        with pytest.raises(TransportError):
            directory.find("alice@example.com")
        assert time.monotonic() - started < 10
    finally:
        thread.join(5)
        for s in accepted:
            s.close()
        listener.close()


@pytest.mark.interop
def test_a_wrong_bind_is_a_transport_error(directory_server: Slapd, pki: TestPKI) -> None:
    wrong = _directory(directory_server, bind_dn=ROOT_DN, password="wrong")
    with pytest.raises(TransportError, match="refused the bind") as caught:
        wrong.find("alice@example.com")
    assert caught.value.code == 49  # invalidCredentials
    right = _directory(directory_server, bind_dn=ROOT_DN, password="secret")
    assert right.find("alice@example.com") == pki["alice"].certificate


# ----------------------------------------------------------------------------- cache


@pytest.mark.interop
def test_a_second_lookup_is_answered_from_the_cache(directory_server: Slapd) -> None:
    directory = _directory(directory_server)
    before = directory_server.searches()
    first = directory.find("alice@example.com")
    assert _wait_for(directory_server, before + 1)
    again = _directory(directory_server).find("ALICE@example.com")  # another instance too
    time.sleep(0.3)  # slapd would have logged a search by now
    assert directory_server.searches() == before + 1
    assert again == first is not None
    assert smime.cache_info()["directory.lookups"].hits == 1
    smime.clear_caches()
    directory.find("alice@example.com")
    assert _wait_for(directory_server, before + 2)


@pytest.mark.interop
def test_cache_entries_expire(directory_server: Slapd) -> None:
    directory = _directory(directory_server, cache_ttl=0.2)
    before = directory_server.searches()
    directory.find("alice@example.com")
    time.sleep(0.3)
    directory.find("alice@example.com")
    assert _wait_for(directory_server, before + 2)
    uncached = _directory(directory_server, cache_ttl=0)
    uncached.find("alice@example.com")
    uncached.find("alice@example.com")
    assert _wait_for(directory_server, before + 4)


def _wait_for(server: Slapd, count: int) -> bool:
    """slapd writes its log a moment after answering: wait for ``count`` searches."""
    deadline = time.monotonic() + 5
    while server.searches() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.searches() == count


@pytest.mark.interop
def test_one_directory_serves_many_threads(directory_server: Slapd, pki: TestPKI) -> None:
    directory = _directory(directory_server, cache_ttl=0)
    addresses = ["alice@example.com", "carol@example.com", "dave@example.com"] * 4
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        found = list(pool.map(directory.find, addresses))
    expected = {a: pki[a.split("@")[0]].certificate for a in addresses}
    assert found == [expected[a] for a in addresses]


# ----------------------------------------------------------------------------- as a store


@pytest.mark.interop
def test_verify_and_unwrap_accept_a_directory(directory_server: Slapd, pki: TestPKI) -> None:
    directory = _directory(directory_server)
    signed = smime.sign(_message(), pki["bob"].identity)
    assert smime.verify(signed, trust=pki.root_path, store=directory).valid
    sealed = smime.encrypt(signed, "alice@example.com", store=directory)
    opened = smime.unwrap(sealed, pki["alice"].identity, trust=pki.root_path, store=directory)
    assert opened.verifications[0].valid


@pytest.mark.interop
def test_verify_finds_a_signer_certificate_the_message_omits(
    directory_server: Slapd, pki: TestPKI
) -> None:
    """By issuer and serial number (certificateExactMatch on userCertificate)."""
    directory = _directory(directory_server)
    alice = pki["alice"].certificate
    issuer = alice.issuer.public_bytes()
    assert directory.signer_certificates(
        SignerIdentifier(issuer=issuer, serial_number=alice.serial_number)) == (alice,)
    assert directory.signer_certificates(
        SignerIdentifier(issuer=issuer, serial_number=alice.serial_number + 1)) == ()
    ski = alice.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert directory.signer_certificates(SignerIdentifier(key_identifier=ski)) == ()
    for hostile in ('x")(|(mail=*', "*", "x)(userCertificate=*"):  # a message names any issuer
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostile)])
        assert directory.signer_certificates(SignerIdentifier(
            issuer=name.public_bytes(), serial_number=alice.serial_number)) == ()
    message = bare_message(pki)
    helpers = [pki.intermediate.certificate]
    assert not smime.verify(message, pki.root_path, certificates=helpers).valid
    result = smime.verify(message, pki.root_path, certificates=helpers, store=directory)
    assert result.valid, result.summary()
    assert result.signers[0].certificate == alice


def test_store_must_be_a_certificate_source(pki: TestPKI) -> None:
    signed = smime.sign(_message(), pki["bob"].identity)
    with pytest.raises(UsageError, match="CertificateSource"):
        smime.verify(signed, trust=pki.root_path, store="ldaps://example.org")  # type: ignore[arg-type]
    # a str has .find (it returned -1, encrypted "to" it, and failed with AttributeError)
    with pytest.raises(UsageError, match="store must be a CertificateStore"):
        smime.encrypt(_message(), "alice@example.com", store="contacts.db")  # type: ignore[arg-type]


def test_a_directory_holds_no_connection_and_pickles_without_trust() -> None:
    directory = LDAPDirectory("ldaps://ldap.example.org", BASE, timeout=3)
    copy = pickle.loads(pickle.dumps(directory))
    assert repr(copy) == repr(directory) == f"LDAPDirectory('ldaps://ldap.example.org', {BASE!r})"
    assert copy.timeout == 3
