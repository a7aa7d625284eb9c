"""Fixed test keys for the fuzzing harness, derived from constants at run time.

A saved decrypt crash must decrypt again on replay, so the identity the fuzzer decrypts
with has the same keys in every run: RSA primes come from a seeded ``random.Random`` and
a Miller-Rabin test, the EC and X25519 keys from hashed labels. Test keys only.
"""

from __future__ import annotations

import hashlib
import random

from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519


def _small_primes(limit: int) -> tuple[int, ...]:
    sieve = bytearray([1]) * limit
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, limit, i)))
    return tuple(i for i in range(3, limit) if sieve[i])


_SMALL_PRIMES = _small_primes(30_000)


def _miller_rabin(n: int, rng: random.Random) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(8):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random, e: int) -> int:
    """The first probable prime at or after a random odd start (a sieved window of odd numbers)."""
    window = 8192
    while True:
        start = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        composite = bytearray(window)  # composite[k]: start + 2k has a small factor
        for p in _SMALL_PRIMES:
            first = (-start * pow(2, -1, p)) % p
            composite[first::p] = b"\x01" * len(range(first, window, p))
        for k in range(window):
            n = start + 2 * k
            if not composite[k] and (n - 1) % e and pow(2, n - 1, n) == 1 and _miller_rabin(n, rng):
                return n


def rsa_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """The same RSA key for the same ``label`` in every run."""
    rng = random.Random(hashlib.sha256(label.encode()).digest())
    e = 65537
    p = _prime(bits // 2, rng, e)
    q = _prime(bits // 2, rng, e)
    while q == p:
        q = _prime(bits // 2, rng, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


def ec_key(label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    """The same EC key for the same ``label`` and curve in every run."""
    digest = int.from_bytes(hashlib.sha512(label.encode()).digest(), "big")
    scalar = (digest >> (512 - curve.key_size + 1)) | 1  # below the group order
    return ec.derive_private_key(scalar, curve)


def x25519_key(label: str) -> x25519.X25519PrivateKey:
    """The same X25519 key for the same ``label`` in every run."""
    return x25519.X25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())
