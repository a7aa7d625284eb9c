"""Sign and verify a 1 KB message: smime beside pyca, rsmime, M2Crypto and `openssl cms`.

Run: python benchmarks/bench_sign_verify.py [--repeat N] [--min-time S] [--only NAME]

Every verifier reads the same reference message (signed by `openssl cms`, or by pyca when
openssl is missing) that carries the intermediate CA; smime, M2Crypto and openssl validate
the chain up to a fixed trust store, rsmime does not (checked at run time and printed).

First comes signing ordinary mail shapes (the "ordinary 1 KB mail" of issue 11, with a
charset parameter and a transfer encoding; 8-bit text; multipart with an attachment) beside
rsmime on the same messages and a raw RSA-2048 signature; `--only shapes` runs just that.
"""

from __future__ import annotations

import base64
import functools
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

KEYS = (("rsa-2048", "alice"), ("ec-p256", "carol"))


@dataclass
class Impl:
    name: str
    sign: Callable[[], object] | None = None
    verify: Callable[[], object] | None = None
    verify_warm: Callable[[], object] | None = None
    chain: str = "-"  # does verify validate the chain to the trust store?
    notes: list[str] = field(default_factory=list)


class Skip(Exception):
    """An implementation that cannot run here; the message says why."""


# ----------------------------------------------------------------------------- adapters


def raw_impl(user: Any, data: bytes) -> Impl:
    key = user.identity.key
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_key, rsa_pub = key, key.public_key()

        def sign() -> bytes:
            return rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

        sig = sign()

        def verify() -> None:
            rsa_pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        ec_key, ec_pub = key, key.public_key()

        def sign() -> bytes:
            return ec_key.sign(data, ec.ECDSA(hashes.SHA256()))

        ec_sig = sign()

        def verify() -> None:
            ec_pub.verify(ec_sig, data, ec.ECDSA(hashes.SHA256()))
    return Impl("raw cryptography (ceiling)", sign, verify, chain="no",
                notes=["one signature over 1 KB, no CMS, no MIME"])


def smime_impl(smime: Any, pki: Any, user: Any, msg: bytes, reference: bytes,
               trust_intermediate: bool) -> Impl:
    identity = smime.load_identity(user.p12_path, password=pki.password)
    anchors = [pki.root_path, pki.intermediate_path] if trust_intermediate else [pki.root_path]
    trust = smime.TrustStore.from_pem(anchors)
    impl = Impl("smime", chain="yes")

    def sign() -> bytes:
        return bytes(smime.sign(msg, identity).as_bytes())

    sign()
    impl.sign = sign

    def verify() -> Any:
        return smime.verify(reference, trust=trust)

    first = verify()
    if not first.valid:
        impl.notes.append("reference message NOT valid: " + "; ".join(map(str, first.problems)))
        return impl
    clear = c.cache_clearer(smime)
    if clear is None:
        impl.notes.append("no clear_validation_cache found: cold and warm are the same path")
        impl.verify_warm = verify
        return impl

    def verify_cold() -> object:
        clear()
        return smime.verify(reference, trust=trust)

    impl.verify = verify_cold
    impl.verify_warm = verify
    own = smime.verify(sign(), trust=trust)
    if not own.valid:
        impl.notes.append("its own signature does not verify: " + "; ".join(map(str, own.problems)))
    return impl


def pyca_impl(pki: Any, user: Any, msg: bytes) -> Impl:
    cert, key = user.identity.certificate, user.identity.key
    builder = (pkcs7.PKCS7SignatureBuilder().set_data(msg)
               .add_signer(cert, key, hashes.SHA256())
               .add_certificate(pki.intermediate.certificate))
    options = [pkcs7.PKCS7Options.DetachedSignature]

    def sign() -> bytes:
        return builder.sign(serialization.Encoding.SMIME, options)

    return Impl("pyca cryptography PKCS7SignatureBuilder", sign, None,
                notes=["cryptography has no PKCS#7/CMS verification API"])


def rsmime_impl(pki: Any, user: Any, msg: bytes, reference: bytes) -> Impl:
    try:
        import rsmime  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise Skip(f"pip install rsmime ({exc})") from exc
    try:
        client = rsmime.Rsmime(str(user.cert_path), str(user.key_path))
    except Exception as exc:
        raise Skip(f"rsmime cannot load this key (it signs with RSA only): {exc}") from exc

    def sign() -> bytes:
        return client.sign(msg, detached=True)  # type: ignore[no-any-return]

    def verify() -> bytes:
        return rsmime.Rsmime.verify(reference)  # type: ignore[no-any-return]

    sign()
    verify()
    impl = Impl(f"rsmime {_version('rsmime')}", sign, verify)
    impl.chain = "no" if _rsmime_accepts_untrusted(rsmime, msg) else "?"
    if impl.chain == "no":
        impl.notes.append("verify accepted a signer from an unknown CA: it checks no chain "
                          "and takes no trust store")
    impl.notes.append("signs with the signer certificate only (no intermediate)")
    return impl


def _rsmime_accepts_untrusted(rsmime: Any, msg: bytes) -> bool:
    from smime.testing import issue_certificate, make_ca

    stranger_ca = make_ca("Unknown CA", key_type="rsa-2048")
    stranger = issue_certificate(stranger_ca, "mallory@example.org", key_type="rsa-2048")
    client = rsmime.Rsmime(
        cert_data=stranger.certificate.public_bytes(serialization.Encoding.PEM),
        key_data=stranger.key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()),
    )
    try:
        rsmime.Rsmime.verify(client.sign(msg, detached=True))
    except Exception:
        return False
    return True


def m2_impl(pki: Any, user: Any, msg: bytes, reference: bytes, trust_intermediate: bool) -> Impl:
    try:
        from M2Crypto import BIO, SMIME, X509
    except ImportError as exc:
        raise Skip(f"M2Crypto not importable ({exc}); needs swig + libssl-dev to build") from exc
    signer = SMIME.SMIME()
    signer.load_key(str(user.key_path), str(user.cert_path))
    extra = X509.X509_Stack()
    extra.push(X509.load_cert(str(pki.intermediate_path)))
    signer.set_x509_stack(extra)

    def sign() -> bytes:
        p7 = signer.sign(BIO.MemoryBuffer(msg), SMIME.PKCS7_DETACHED)
        out = BIO.MemoryBuffer()
        signer.write(out, p7, BIO.MemoryBuffer(msg))
        return out.read() or b""

    verifier = SMIME.SMIME()
    store = X509.X509_Store()
    store.load_info(str(pki.root_path))
    if trust_intermediate:
        store.load_info(str(pki.intermediate_path))
    verifier.set_x509_store(store)
    verifier.set_x509_stack(X509.X509_Stack())

    def verify() -> bytes:
        p7, data = SMIME.smime_load_pkcs7_bio(BIO.MemoryBuffer(reference))
        return verifier.verify(p7, data) or b""

    sign()
    verify()
    return Impl(f"M2Crypto {_version('M2Crypto')}", sign, verify, chain="yes",
                notes=["PKCS7_sign/PKCS7_verify (OpenSSL's PKCS#7 code)"])


def openssl_impl(pki: Any, user: Any, folder: Path, reference: bytes,
                 trust_intermediate: bool) -> Impl:
    exe = c.openssl_path()
    if exe is None:
        raise Skip("no openssl on PATH")
    msg_path = folder / "msg.eml"
    ref_path = c.write_file(folder, "reference.eml", reference)
    cafile = pki.root_path
    if trust_intermediate:
        cafile = c.write_file(folder, "anchors.pem",
                              pki.root_path.read_bytes() + pki.intermediate_path.read_bytes())
    sign_argv = [exe, "cms", "-sign", "-in", str(msg_path), "-signer", str(user.cert_path),
                 "-inkey", str(user.key_path), "-certfile", str(pki.intermediate_path)]
    verify_argv = [exe, "cms", "-verify", "-in", str(ref_path), "-CAfile", str(cafile),
                   "-out", "/dev/null"]

    def sign() -> bytes:
        return subprocess.run(sign_argv, capture_output=True, check=True).stdout

    def verify() -> object:
        return subprocess.run(verify_argv, capture_output=True, check=True)

    sign()
    verify()
    return Impl("openssl cms (one process per op)", sign, verify, chain="yes",
                notes=["includes process start-up; see the `openssl version` row"])


def openssl_startup() -> Impl | None:
    exe = c.openssl_path()
    if exe is None:
        return None

    def start() -> object:
        return subprocess.run([exe, "version"], capture_output=True, check=True)

    return Impl("`openssl version` (process start only)", start, None,
                notes=["ceiling for any one-process-per-op tool"])


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# ----------------------------------------------------------------------------- main


def reference_message(pki: Any, user: Any, msg: bytes, folder: Path) -> tuple[bytes, str]:
    """The one signed message every verifier reads, with the intermediate CA inside."""
    c.write_file(folder, "msg.eml", msg)
    if c.openssl_path():
        return c.openssl_sign(pki, user, msg, folder), "openssl cms -sign"
    return pyca_impl(pki, user, msg).sign(), "pyca PKCS7SignatureBuilder"  # type: ignore[misc, return-value]


def run_key(args: Any, pki: Any, smime: Any, smime_reason: str, key_type: str,
            user_name: str) -> dict[str, dict[str, float]]:
    user = pki[user_name]
    msg = c.message_1k(user.email)
    folder = Path(tempfile.mkdtemp(prefix="bench-sv-", dir=pki.folder))
    reference, made_by = reference_message(pki, user, msg, folder)
    print(f"## {key_type} ({user.email}); reference message for verify: {made_by}, "
          f"{len(reference)} bytes; trust store: "
          f"{'root + intermediate' if args.trust_intermediate else 'root only'}")

    builders: list[tuple[str, Callable[[], Impl | None]]] = [
        ("smime", lambda: smime_impl(smime, pki, user, msg, reference, args.trust_intermediate)
         if smime else _raise(Skip(smime_reason))),
        ("rsmime", lambda: rsmime_impl(pki, user, msg, reference)),
        ("pyca", lambda: pyca_impl(pki, user, msg)),
        ("M2Crypto", lambda: m2_impl(pki, user, msg, reference, args.trust_intermediate)),
        ("openssl", lambda: openssl_impl(pki, user, folder, reference, args.trust_intermediate)),
        ("openssl", openssl_startup),
        ("raw", lambda: raw_impl(user, msg[-1024:])),
    ]
    rows: list[list[str]] = []
    notes: list[str] = []
    built: list[tuple[str, Impl | list[str]]] = []
    for name, build in builders:
        if not c.wanted(name, args.only):
            continue
        try:
            made = build()
        except Skip as exc:
            built.append((name, [name, "skipped", "-", "-", "-", "-"]))
            notes.append(f"{name}: skipped: {exc}")
            continue
        except Exception as exc:  # a comparator that breaks is reported, not fatal
            built.append((name, [name, "error", "-", "-", "-", "-"]))
            notes.append(f"{name}: error: {type(exc).__name__}: {exc}")
            continue
        if made is not None:
            built.append(("process" if "version" in made.name else name, made))
    jobs: dict[tuple[str, str], Callable[[], object]] = {}
    for key, entry in built:
        if isinstance(entry, Impl):
            for op, fn in (("sign", entry.sign), ("verify", entry.verify),
                           ("verify_warm", entry.verify_warm)):
                if fn is not None:
                    jobs[key, op] = fn
    timings = c.measure_many(jobs, repeat=args.repeat, min_time=args.min_time)
    rates: dict[str, dict[str, float]] = {}
    for key, impl in built:
        if isinstance(impl, list):
            rows.append(impl)
            continue
        got = {op: t.ops_per_s for (k, op), t in timings.items() if k == key}
        rates[key] = got
        rows.append([impl.name, key_type, c.fmt_rate(got.get("sign")),
                     c.fmt_rate(got.get("verify")), c.fmt_rate(got.get("verify_warm")),
                     impl.chain])
        notes.extend(f"{impl.name}: {n}" for n in impl.notes)
    c.table(rows, ["implementation", "key", "sign/s", "verify/s (cold)",
                   "verify/s (warm cache)", "chain validated"])
    for line in notes:
        c.note(line)
    print()
    return rates


def _raise(exc: Exception) -> Impl:
    raise exc


def print_ratios(key_type: str, rates: dict[str, dict[str, float]]) -> None:
    s, r, raw = rates.get("smime", {}), rates.get("rsmime", {}), rates.get("raw", {})
    m2, ossl, pyca = rates.get("M2Crypto", {}), rates.get("openssl", {}), rates.get("pyca", {})
    print(f"Ratios ({key_type}):")
    c.ratio_line("smime sign / rsmime sign", s.get("sign"), r.get("sign"), ">= 1.5x")
    c.ratio_line("smime sign / raw cryptography sign", s.get("sign"), raw.get("sign"),
                 ">= 80%", percent=True)
    c.ratio_line("smime verify (cold, chain) / rsmime verify (no chain)", s.get("verify"),
                 r.get("verify"), ">= 1x")
    c.ratio_line("smime verify (warm cache) / rsmime verify (no chain)",
                 s.get("verify_warm"), r.get("verify"), ">= 1x")
    c.ratio_line("smime verify warm / cold", s.get("verify_warm"), s.get("verify"))
    c.ratio_line("smime sign / pyca sign", s.get("sign"), pyca.get("sign"))
    c.ratio_line("smime sign / M2Crypto sign", s.get("sign"), m2.get("sign"))
    c.ratio_line("smime verify (cold) / M2Crypto verify", s.get("verify"), m2.get("verify"))
    c.ratio_line("smime sign / openssl cms sign (process)", s.get("sign"), ossl.get("sign"))
    c.ratio_line("smime verify (cold) / openssl cms verify (process)", s.get("verify"),
                 ossl.get("verify"))
    print()


# ----------------------------------------------------------------------------- mail shapes


def ordinary_messages(sender: str) -> dict[str, bytes]:
    """Ordinary ~1 KB mail as clients send it, beside the plain benchmark message.

    "ordinary" is the message of issue 11 (a charset parameter and a transfer encoding);
    "long headers" is the same with a Subject past 78 columns and a folded To, as replies
    have; "8-bit" must become quoted-printable; "multipart" is text plus a base64 attachment.
    """
    head = (f"From: {sender}\r\nTo: bob@example.com\r\nSubject: benchmark\r\n"
            "Date: Mon, 4 Mar 2024 10:15:00 +0100\r\nMessage-ID: <bench.1@example.com>\r\n"
            "MIME-Version: 1.0\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog; smime benchmark 0\r\n"  # 64 bytes
    umlauts = "Gr\u00fc\u00dfe aus K\u00f6ln: the quick brown fox jumps over\r\n".encode()
    attachment = base64.encodebytes(bytes(range(256)) * 2).replace(b"\n", b"\r\n")
    ordinary = (head + b'Content-Type: text/plain; charset="utf-8"\r\n'
                b"Content-Transfer-Encoding: 7bit\r\n\r\n" + line * 16)
    long_headers = ordinary.replace(
        b"To: bob@example.com", b"To: Bob Example <bob@example.com>,\r\n"
        b" Carol Example <carol@example.com>, Dave Example <dave@example.com>"
    ).replace(b"Subject: benchmark", b"Subject: Re: Fwd: the quarterly report for the third "
              b"quarter, with the figures we discussed")
    return {
        "ordinary": ordinary,
        "long headers": long_headers,
        "8-bit": head + b"Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + umlauts * 20,
        "multipart": head + b'Content-Type: multipart/mixed; boundary="------------b1"\r\n\r\n'
        b"This is a multi-part message in MIME format.\r\n--------------b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        + line * 6 + b"\r\n--------------b1\r\n"
        b'Content-Type: application/octet-stream; name="data.bin"\r\n'
        b'Content-Disposition: attachment; filename="data.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"\r\n--------------b1--\r\n",
    }


def _smime_sign(smime: Any, msg: bytes, identity: Any) -> bytes:
    return bytes(smime.sign(msg, identity).as_bytes())


def run_shapes(args: Any, pki: Any, smime: Any) -> None:
    """smime signing ordinary mail shapes, beside rsmime and a raw RSA-2048 signature."""
    user = pki["alice"]
    shapes = ordinary_messages(user.email)
    identity = smime.load_identity(user.p12_path, password=pki.password)
    raw_sign = raw_impl(user, shapes["ordinary"][-1024:]).sign
    assert raw_sign is not None
    jobs: dict[str, Callable[[], object]] = {"raw RSA-2048 signature": raw_sign}
    for name, msg in shapes.items():
        jobs[f"smime {name}"] = functools.partial(_smime_sign, smime, msg, identity)
    try:
        import rsmime  # type: ignore[import-untyped, unused-ignore]

        client = rsmime.Rsmime(str(user.cert_path), str(user.key_path))
    except Exception as exc:  # a comparator that is missing or breaks is reported, not fatal
        c.note(f"rsmime: skipped: {exc}")
    else:
        for name, msg in shapes.items():
            jobs[f"rsmime {name}"] = functools.partial(client.sign, msg, detached=True)
    print("## ordinary mail shapes, rsa-2048 (sign/s; one run, batches interleaved)")
    timings = c.measure_many(jobs, repeat=args.repeat, min_time=args.min_time)
    rates = {k: t.ops_per_s for k, t in timings.items()}
    c.table([[k, c.fmt_rate(v)] for k, v in rates.items()], ["signer", "sign/s"], left=1)
    print("Ratios (ordinary mail shapes):")
    for name in shapes:
        c.ratio_line(f"smime {name} / raw RSA-2048 signature", rates.get(f"smime {name}"),
                     rates.get("raw RSA-2048 signature"), ">= 0.6x" if name == "ordinary" else "")
        c.ratio_line(f"smime {name} / rsmime {name}", rates.get(f"smime {name}"),
                     rates.get(f"rsmime {name}"), ">= 1.5x" if name == "ordinary" else "")
    print()


def main() -> None:
    parser = c.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--trust-intermediate", action="store_true",
                        help="put the intermediate CA in the trust store too (default: root "
                             "only, so the whole path root -> intermediate -> signer is built)")
    args = parser.parse_args()
    c.header("sign / verify a 1 KB message (ops per second, median of "
             f"{args.repeat} runs of >= {args.min_time}s)")
    smime, reason = c.load_smime("sign", "verify", "TrustStore", "load_identity")
    if smime is None:
        c.note(f"smime skipped: {reason}")
    with c.throwaway_pki() as pki:
        if smime and c.wanted("shapes", args.only):
            run_shapes(args, pki, smime)
        for key_type, user_name in KEYS:
            if args.only == ["shapes"]:
                break
            rates = run_key(args, pki, smime, reason, key_type, user_name)
            print_ratios(key_type, rates)


if __name__ == "__main__":
    main()
