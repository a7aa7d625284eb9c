"""TrustStore edges: the system store's fallbacks, lenient reading of system files, dunders.

``from_system`` depends on the machine, so these tests replace what it looks at: the
environment variables and OpenSSL's compiled-in paths (``ssl.get_default_verify_paths``),
and the module's lists of well-known bundle files and folders.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from smime.errors import LoadError
from smime.keys import Identity
from smime.testing import make_ca
from smime.validation import TrustStore
from smime.validation import trust as trust_module

ARMOR = "-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


@pytest.fixture(scope="module")
def roots() -> tuple[Identity, Identity, Identity]:
    return tuple(make_ca(f"Edge Root {n}", key_type="ec-p256") for n in range(3))  # type: ignore[return-value]


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """A machine with no CA bundle anywhere: returns the paths the tests may fill."""
    paths = {name: tmp_path / name for name in ("env_file", "env_dir", "openssl_dir")}
    monkeypatch.setenv("SSL_CERT_FILE", str(paths["env_file"]))
    monkeypatch.setenv("SSL_CERT_DIR", str(paths["env_dir"]))
    # no cafile/capath: None at run time when the variables name nothing
    nothing: str = None  # type: ignore[assignment]
    fake = ssl.DefaultVerifyPaths(
        nothing, nothing, "SSL_CERT_FILE", str(tmp_path / "no-openssl.pem"),
        "SSL_CERT_DIR", str(paths["openssl_dir"]),
    )
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: fake)
    monkeypatch.setattr(trust_module, "SYSTEM_BUNDLES", (str(tmp_path / "no-bundle.crt"),))
    monkeypatch.setattr(trust_module, "SYSTEM_FOLDERS", (str(tmp_path / "no-folder"),))
    return paths


def test_no_system_bundle_is_a_load_error_naming_the_places_looked(
    machine: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(LoadError) as caught:
        TrustStore.from_system()
    message = str(caught.value)
    assert "no system certificate bundle found" in message
    for looked in (machine["env_file"], tmp_path / "no-openssl.pem", tmp_path / "no-bundle.crt"):
        assert str(looked) in message
    assert "TrustStore.from_pem" in message


def test_a_bundle_of_garbage_is_skipped_for_the_next_candidate(
    machine: dict[str, Path], roots: tuple[Identity, ...]
) -> None:
    machine["env_file"].write_bytes(b"\x01\x02 not a certificate bundle")
    machine["openssl_dir"].mkdir()
    (machine["openssl_dir"] / "root.pem").write_bytes(_pem(roots[0].certificate))
    assert TrustStore.from_system().certificates == (roots[0].certificate,)


def test_a_der_bundle_file_is_read(machine: dict[str, Path], roots: tuple[Identity, ...]) -> None:
    machine["env_file"].write_bytes(_der(roots[1].certificate))
    assert TrustStore.from_system().certificates == (roots[1].certificate,)


def test_system_folder_is_read_leniently(
    machine: dict[str, Path], roots: tuple[Identity, ...]
) -> None:
    """The first folder with certificates wins; files cryptography rejects are skipped."""
    machine["env_dir"].mkdir()  # exists, but holds nothing usable: the next folder is used
    (machine["env_dir"] / "README").write_text("certificates live elsewhere\n")
    folder = machine["openssl_dir"]
    folder.mkdir()
    (folder / "a-root.pem").write_bytes(_pem(roots[0].certificate))
    (folder / "b-root.der").write_bytes(_der(roots[1].certificate))
    (folder / "c-junk.bin").write_bytes(b"\x30\x03\x02\x01\x00")  # DER-looking junk
    (folder / "d-bad-base64.pem").write_text(ARMOR.format(kind="CERTIFICATE", body="A"))
    # one unparsable block does not hide the good one after it
    (folder / "e-mixed.pem").write_bytes(
        ARMOR.format(kind="CERTIFICATE", body="MAMCAQA=").encode() + _pem(roots[2].certificate)
    )
    (folder / "f-key.pem").write_text(ARMOR.format(kind="PRIVATE KEY", body="MAMCAQA="))
    (folder / "g-subfolder").mkdir()
    store = TrustStore.from_system()
    assert store.certificates == tuple(r.certificate for r in roots)


def test_an_unusable_folder_and_bundle_leave_nothing(machine: dict[str, Path]) -> None:
    machine["env_file"].write_text(ARMOR.format(kind="CERTIFICATE", body="MAMCAQA="))
    machine["env_dir"].mkdir()
    (machine["env_dir"] / "junk.pem").write_text(ARMOR.format(kind="CERTIFICATE", body="@@"))
    with pytest.raises(LoadError, match="no system certificate bundle found"):
        TrustStore.from_system()


def test_only_certificates_go_in(roots: tuple[Identity, ...]) -> None:
    with pytest.raises(LoadError, match="holds certificates, not bytes"):
        TrustStore([roots[0].certificate, _der(roots[1].certificate)])  # type: ignore[list-item]


def test_an_empty_store_is_true_and_says_how_many(roots: tuple[Identity, ...]) -> None:
    empty = TrustStore()
    assert bool(empty) is True and len(empty) == 0  # a store, meaning "trust nothing"
    assert repr(empty) == "TrustStore(0 certificates)"
    assert repr(TrustStore([roots[0].certificate])) == "TrustStore(1 certificate)"
    assert repr(TrustStore(r.certificate for r in roots)) == "TrustStore(3 certificates)"


def test_cached_views_follow_the_anchors(roots: tuple[Identity, ...]) -> None:
    store = TrustStore(r.certificate for r in roots)
    asn1 = store.asn1_certificates()
    assert [c.dump() for c in asn1] == [_der(r.certificate) for r in roots]
    assert store.asn1_certificates() is asn1  # parsed once
    instants = store.validity_instants()
    assert list(instants) == sorted(instants) and len(instants) == 6
    assert roots[0].certificate.not_valid_after_utc in instants
    assert len(store.subject_keys()) == 3
    assert store.get(roots[0].certificate.fingerprint(hashes.SHA256())) == (
        roots[0].certificate
    )
    assert store.get(b"\x00" * 32) is None


def test_empty_string_is_not_the_current_directory(
    roots: tuple[Identity, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planted.pem").write_bytes(_pem(roots[0].certificate))
    monkeypatch.chdir(tmp_path)
    assert Path(os.curdir).resolve() == tmp_path.resolve()
    with pytest.raises(LoadError):
        TrustStore.from_pem("")
