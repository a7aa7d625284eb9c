"""Reads the hot path takes outside asn1crypto agree with asn1crypto's, value for value."""

from __future__ import annotations

import random

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core

from smime.cms._verify import _utc_time


def test_utc_time_reads_as_asn1crypto_reads_it() -> None:
    rng = random.Random(11)
    read = 0
    for _ in range(5000):
        raw = "".join(f"{rng.randrange(limit):02d}" for limit in (100, 14, 33, 25, 61, 61)) + "Z"
        value = asn1_cms.Time.load(asn1_cms.Time(
            name="utc_time", value=asn1_core.UTCTime.load(b"\x17\x0d" + raw.encode())).dump())
        try:
            expected = value.native
        except ValueError:
            expected = None  # asn1crypto refuses it: the fast read must decline too
        got = _utc_time(value)
        assert got == expected, raw
        read += got is not None
    assert read > 3000


def test_other_time_forms_are_left_to_asn1crypto() -> None:
    general = asn1_cms.Time.load(b"\x18\x0f20240304101500Z")
    assert _utc_time(general) is None
    no_seconds = asn1_core.UTCTime.load(b"\x17\x0b2403041015Z")
    assert _utc_time(no_seconds) is None
    offset = asn1_core.UTCTime.load(b"\x17\x11240304101500+0100")
    assert _utc_time(offset) is None
