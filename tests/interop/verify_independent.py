#!/usr/bin/env python3
"""Check agentrail's artifacts with implementations that share no code with agentrail.

- RFC 8785 (JSON canonicalization): the `rfc8785` package (Trail of Bits).
- Ed25519 (RFC 8032): the `cryptography` package.
- RFC 6962 / RFC 9162 Merkle trees: written here from the RFC 9162 text
  (section 2.1.1 MTH, 2.1.3 inclusion, 2.1.4 consistency), not ported from agentrail.
- C2SP signed-note, tlog-checkpoint and tlog-proof parsing: written here from the C2SP texts.

Usage: verify_independent.py ARTIFACT_DIR

ARTIFACT_DIR holds what the agentrail CLI printed, byte for byte:

    key.txt                  `agentrail key`
    checkpoint-old.txt       `agentrail checkpoint` after the first ingest run
    checkpoint-new.txt       `agentrail checkpoint` after the second ingest run
    consistency.txt          `agentrail prove --consistency OLD NEW`
    events/ID.event.json     `agentrail event get ID`
    events/ID.leaf.json      `agentrail event get ID --leaf`
    events/ID.tlog-proof     `agentrail prove ID`

Prints one `OK ...` line per passed check. On the first failure prints `FAIL: ...` to
stderr and exits 1; exits 2 on a usage error. Known-answer tests and negative
self-checks (a tampered leaf, proof, or checkpoint must be rejected) run every time, so
the script cannot pass vacuously.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import sys

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EVENT_SCHEMA = "agentrail.event/v1"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
EM_DASH_PREFIX = "\u2014 "
ED25519_ALG = 0x01


class Reject(Exception):
    """An artifact does not conform; the message says which and why."""


def ok(message: str) -> None:
    print(f"OK {message}", flush=True)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 with padding; rejects anything that does not re-encode identically."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise Reject(f"{what}: not valid base64 ({e}): {text!r}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise Reject(f"{what}: base64 is not in canonical padded form: {text!r}")
    return raw


def parse_decimal(text: str, what: str) -> int:
    if not re.fullmatch(r"0|[1-9][0-9]*", text):
        raise Reject(f"{what}: expected a decimal number without leading zeros, got {text!r}")
    value = int(text)
    if value >= 2**63:
        raise Reject(f"{what}: {value} does not fit in 63 bits")
    return value


# ---------------------------------------------------------------------------------------
# RFC 9162 section 2.1: Merkle Tree Hash, written from the RFC text.


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1): k < n <= 2k."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1; `leaves` are the entries d(i)."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(leaves[0])
    k = split_point(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list) -> list:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1 (the inclusion proof a log must produce)."""
    n = len(leaves)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list, b: bool) -> list:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split_point(n)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency_proof(m: int, leaves: list) -> list:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
    return subproof(m, leaves, True)


def verify_inclusion(
    leaf_index: int, tree_size: int, entry_hash: bytes, inclusion_path: list, root_hash: bytes
) -> None:
    """RFC 9162 section 2.1.3.2, step by step. Raises Reject unless inclusion is proven."""
    # 1. leaf_index must be less than tree_size.
    if leaf_index >= tree_size:
        raise Reject(f"inclusion: leaf index {leaf_index} is not less than tree size {tree_size}")
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn = leaf_index
    sn = tree_size - 1
    # 3. r = hash.
    r = entry_hash
    # 4. For each p in inclusion_path:
    for p in inclusion_path:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            raise Reject("inclusion: the proof has more hashes than the tree has levels")
        # b. If LSB(fn) is set, or fn equals sn:
        if fn & 1 or fn == sn:
            # i. r = HASH(0x01 || p || r)
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, right-shift fn and sn equally until LSB(fn) is set
            #     or fn is 0.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise r = HASH(0x01 || r || p)
            r = node_hash(r, p)
        # c. Right-shift fn and sn once.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r must equal root_hash.
    if sn != 0:
        raise Reject("inclusion: the proof has fewer hashes than the tree has levels")
    if r != root_hash:
        raise Reject(
            f"inclusion: computed root {r.hex()} does not match the checkpoint root {root_hash.hex()}"
        )


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, consistency_path: list
) -> None:
    """RFC 9162 section 2.1.4.2, step by step. Raises Reject unless consistency is proven.

    The RFC's algorithm presumes 0 < first < second (section 2.1.4.1 defines PROOF only
    for 0 < m < n); first == second is accepted with an empty path and equal roots.
    """
    if first == second:
        if consistency_path or first_hash != second_hash:
            raise Reject("consistency: equal sizes need an empty proof and equal roots")
        return
    if not 0 < first < second:
        raise Reject(f"consistency: need 0 < first < second, got first={first} second={second}")
    # 1. An empty consistency_path fails.
    if not consistency_path:
        raise Reject("consistency: the proof is empty")
    proof = list(consistency_path)
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        proof.insert(0, first_hash)
    # 3. fn = first - 1, sn = second - 1.
    fn = first - 1
    sn = second - 1
    # 4. If LSB(fn) is set, right-shift fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = proof[0]
    sr = proof[0]
    # 6. For each subsequent value c:
    for c in proof[1:]:
        # a. If sn is 0, stop and fail.
        if sn == 0:
            raise Reject("consistency: the proof has more hashes than the trees need")
        # b. If LSB(fn) is set, or fn equals sn:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)  # i.
            sr = node_hash(c, sr)  # ii.
            # iii. If LSB(fn) is not set, right-shift fn and sn equally until LSB(fn) is
            #      set or fn is 0.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)  # Otherwise
        # c. Right-shift fn and sn once.
        fn >>= 1
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    if sn != 0:
        raise Reject("consistency: the proof has fewer hashes than the trees need")
    if fr != first_hash:
        raise Reject(f"consistency: computed old root {fr.hex()} != {first_hash.hex()}")
    if sr != second_hash:
        raise Reject(f"consistency: computed new root {sr.hex()} != {second_hash.hex()}")


# ---------------------------------------------------------------------------------------
# C2SP signed-note, tlog-checkpoint, tlog-proof.


class VerifierKey:
    def __init__(self, text: str) -> None:
        # name+keyid+base64(alg || key); the name may not contain '+', the base64 may.
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise Reject(f"verifier key: expected name+keyid+key, got {text!r}")
        name, keyid_hex, key_b64 = parts
        if not name or re.search(r"\s", name):
            raise Reject(f"verifier key: the name {name!r} is empty or holds whitespace")
        if not re.fullmatch(r"[0-9a-f]{8}", keyid_hex):
            raise Reject(f"verifier key: key id {keyid_hex!r} is not 8 lowercase hex digits")
        raw = b64decode_strict(key_b64, "verifier key")
        if len(raw) != 33 or raw[0] != ED25519_ALG:
            raise Reject(
                f"verifier key: expected 0x01 followed by a 32-byte Ed25519 key, got {len(raw)} "
                f"bytes starting {raw[:1].hex()}"
            )
        key_id = sha256(name.encode("utf-8") + b"\n" + raw)[:4]
        if key_id.hex() != keyid_hex:
            raise Reject(
                f"verifier key: key id {keyid_hex} does not match SHA-256(name || 0x0A || "
                f"0x01 || key)[:4] = {key_id.hex()}"
            )
        self.name = name
        self.key_id = key_id
        self.public_key = Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note: bytes, key: VerifierKey) -> str:
    """Verifies a C2SP signed note against `key`; returns its text (ending in a newline)."""
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Reject(f"signed note: not UTF-8 ({e})") from None
    if re.search(r"[\x00-\x09\x0b-\x1f\x7f]", decoded):
        raise Reject("signed note: holds a control character other than newline")
    if not decoded.endswith("\n"):
        raise Reject("signed note: does not end in a newline")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise Reject("signed note: no blank line separates the text from the signatures")
    text = decoded[: split + 1]
    signature_lines = decoded[split + 2 :].split("\n")[:-1]
    if not signature_lines:
        raise Reject("signed note: no signature lines")
    verified = 0
    for line in signature_lines:
        if not line.startswith(EM_DASH_PREFIX):
            raise Reject(f"signed note: signature line does not start with an em dash: {line!r}")
        fields = line[len(EM_DASH_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise Reject(f"signed note: signature line is not `— name signature`: {line!r}")
        name, sig_b64 = fields
        sig = b64decode_strict(sig_b64, f"signature by {name}")
        if len(sig) < 5:
            raise Reject(f"signed note: signature by {name} is too short")
        if name != key.name or sig[:4] != key.key_id:
            continue  # Another key's signature (a witness, say): not ours to check.
        if len(sig) != 68:
            raise Reject(f"signed note: Ed25519 signature by {name} is {len(sig)} bytes, not 68")
        try:
            key.public_key.verify(sig[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise Reject(
                f"signed note: the signature by {name}+{key.key_id.hex()} does not verify"
            ) from None
        verified += 1
    if verified == 0:
        raise Reject(f"signed note: no signature by {key.name}+{key.key_id.hex()}")
    return text


class Checkpoint:
    def __init__(self, note: bytes, key: VerifierKey) -> None:
        text = open_note(note, key)
        lines = text.split("\n")[:-1]
        if len(lines) < 3:
            raise Reject(
                f"checkpoint: expected origin, size and root lines, got {len(lines)} lines"
            )
        self.origin = lines[0]
        if not self.origin:
            raise Reject("checkpoint: empty origin")
        self.size = parse_decimal(lines[1], "checkpoint size")
        self.root = b64decode_strict(lines[2], "checkpoint root")
        if len(self.root) != 32:
            raise Reject(f"checkpoint: root hash is {len(self.root)} bytes, not 32")
        self.extensions = lines[3:]
        self.note = note


class TlogProof:
    def __init__(self, data: bytes) -> None:
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Reject(f"tlog-proof: not UTF-8 ({e})") from None
        head, sep, checkpoint = decoded.partition("\n\n")
        if not sep:
            raise Reject("tlog-proof: no blank line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            raise Reject(f"tlog-proof: first line is {lines[0]!r}, not {TLOG_PROOF_HEADER!r}")
        rest = lines[1:]
        self.extra = None
        if rest and rest[0].startswith("extra "):
            self.extra = b64decode_strict(rest[0][len("extra ") :], "tlog-proof extra")
            rest = rest[1:]
        if not rest or not rest[0].startswith("index "):
            raise Reject("tlog-proof: no `index N` line")
        self.index = parse_decimal(rest[0][len("index ") :], "tlog-proof index")
        self.hashes = []
        for i, line in enumerate(rest[1:]):
            h = b64decode_strict(line, f"tlog-proof hash {i}")
            if len(h) != 32:
                raise Reject(f"tlog-proof: hash {i} is {len(h)} bytes, not 32")
            self.hashes.append(h)
        self.checkpoint = checkpoint.encode("utf-8")


def parse_hash_lines(data: bytes, what: str) -> list:
    text = data.decode("utf-8")
    if text and not text.endswith("\n"):
        raise Reject(f"{what}: the last line does not end in a newline")
    hashes = []
    for i, line in enumerate(text.split("\n")[:-1]):
        h = b64decode_strict(line, f"{what} hash {i}")
        if len(h) != 32:
            raise Reject(f"{what}: hash {i} is {len(h)} bytes, not 32")
        hashes.append(h)
    return hashes


# ---------------------------------------------------------------------------------------
# agentrail events and leaves, checked with rfc8785.


def reject_duplicate_keys(pairs: list) -> dict:
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Reject(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def parse_canonical(data: bytes, what: str) -> dict:
    """Parses JSON and requires `data` to be exactly its RFC 8785 form."""
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise Reject(f"{what}: not JSON ({e})") from None
    try:
        canonical = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as e:
        raise Reject(f"{what}: rfc8785 cannot canonicalize it ({e})") from None
    if canonical != data:
        at = next((i for i, (a, b) in enumerate(zip(canonical, data)) if a != b), None)
        if at is None:
            at = min(len(canonical), len(data))
        raise Reject(
            f"{what}: not RFC 8785 canonical; first difference at byte {at}: "
            f"agentrail {data[max(0, at - 20):at + 20]!r} vs rfc8785 {canonical[max(0, at - 20):at + 20]!r}"
        )
    if not isinstance(value, dict):
        raise Reject(f"{what}: not a JSON object")
    return value


def check_event_and_leaf(event_id: str, event_bytes: bytes, leaf_bytes: bytes) -> None:
    event = parse_canonical(event_bytes, f"event {event_id}")
    if event.get("schema") != EVENT_SCHEMA:
        raise Reject(f"event {event_id}: schema is {event.get('schema')!r}, not {EVENT_SCHEMA!r}")
    if event.get("event_id") != event_id:
        raise Reject(f"event {event_id}: event_id field is {event.get('event_id')!r}")
    body = event.get("body")
    if not isinstance(body, dict):
        raise Reject(f"event {event_id}: body is not an object")
    if "body_sha256" in event:
        raise Reject(f"event {event_id}: the stored event holds body_sha256")
    header = {k: v for k, v in event.items() if k != "body"}
    header["body_sha256"] = hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    expected_leaf = rfc8785.dumps(header)
    leaf = parse_canonical(leaf_bytes, f"leaf {event_id}")
    if leaf.get("body_sha256") != header["body_sha256"]:
        raise Reject(
            f"leaf {event_id}: body_sha256 is {leaf.get('body_sha256')!r}, but SHA-256 of the "
            f"RFC 8785 body is {header['body_sha256']}"
        )
    if expected_leaf != leaf_bytes:
        raise Reject(
            f"leaf {event_id}: differs from rfc8785(header + body_sha256): {expected_leaf!r}"
        )


# ---------------------------------------------------------------------------------------
# Known-answer tests for the verifiers above, re-typed from RFC 6962 test data
# (the classic 8-leaf tree) and the golang.org/x/mod signed-note example.

KAT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
KAT_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
KAT_ROOT_6 = "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"
KAT_INCLUSION_5_8 = [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]
KAT_CONSISTENCY_6_8 = [
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]
KAT_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
KAT_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode("utf-8")


def flip_bit(h: bytes, byte: int = 0) -> bytes:
    return h[:byte] + bytes([h[byte] ^ 0x01]) + h[byte + 1 :]


def must_reject(what: str, check) -> None:
    """Negative self-check: `check` must raise Reject, or the verifier is vacuous."""
    try:
        check()
    except Reject as e:
        ok(f"rejects {what} ({e})")
        return
    raise Reject(f"negative self-check: the verifier ACCEPTED {what}")


def known_answer_tests() -> None:
    leaves = KAT_LEAVES
    if mth(leaves).hex() != KAT_ROOT_8 or mth(leaves[:6]).hex() != KAT_ROOT_6:
        raise Reject("KAT: MTH of the RFC 6962 8-leaf tree does not match the published roots")
    ok("KAT: MTH of the RFC 6962 8-leaf tree, sizes 6 and 8")
    if [h.hex() for h in path(5, leaves)] != KAT_INCLUSION_5_8:
        raise Reject("KAT: PATH(5, D[8]) does not match the published inclusion proof")
    if [h.hex() for h in consistency_proof(6, leaves)] != KAT_CONSISTENCY_6_8:
        raise Reject("KAT: PROOF(6, D[8]) does not match the published consistency proof")
    ok("KAT: PATH(5, D[8]) and PROOF(6, D[8]) match the published proofs")
    inclusion = [bytes.fromhex(h) for h in KAT_INCLUSION_5_8]
    root8 = bytes.fromhex(KAT_ROOT_8)
    verify_inclusion(5, 8, leaf_hash(leaves[5]), inclusion, root8)
    ok("KAT: inclusion proof index 5 size 8 verifies")
    consistency = [bytes.fromhex(h) for h in KAT_CONSISTENCY_6_8]
    verify_consistency(6, 8, bytes.fromhex(KAT_ROOT_6), root8, consistency)
    ok("KAT: consistency proof 6 -> 8 verifies")
    must_reject(
        "KAT inclusion with a wrong index",
        lambda: verify_inclusion(4, 8, leaf_hash(leaves[5]), inclusion, root8),
    )
    must_reject(
        "KAT inclusion with a changed hash",
        lambda: verify_inclusion(
            5,
            8,
            leaf_hash(leaves[5]),
            inclusion[:1] + [flip_bit(inclusion[1])] + inclusion[2:],
            root8,
        ),
    )
    must_reject(
        "KAT consistency with a changed hash",
        lambda: verify_consistency(
            6, 8, bytes.fromhex(KAT_ROOT_6), root8, consistency[:2] + [flip_bit(consistency[2])]
        ),
    )

    # Every (index, size) and (first, second) pair of a 33-leaf tree: the RFC's proofs
    # verify with the RFC's verifiers, and the same proof with one bit changed, one hash
    # dropped, or one hash added does not.
    many = [b"leaf %d" % i for i in range(33)]
    roots = [mth(many[:n]) for n in range(len(many) + 1)]
    for n in range(1, len(many) + 1):
        for m in range(n):
            p = path(m, many[:n])
            verify_inclusion(m, n, leaf_hash(many[m]), p, roots[n])
            for i in range(len(p)):
                must_reject_quiet(
                    lambda: verify_inclusion(
                        m,
                        n,
                        leaf_hash(many[m]),
                        p[:i] + [flip_bit(p[i], 31)] + p[i + 1 :],
                        roots[n],
                    )
                )
            must_reject_quiet(
                lambda: verify_inclusion(m, n, leaf_hash(many[m]), p + [roots[0]], roots[n])
            )
            if p:
                must_reject_quiet(
                    lambda: verify_inclusion(m, n, leaf_hash(many[m]), p[:-1], roots[n])
                )
        for m in range(1, n):
            c = consistency_proof(m, many[:n])
            verify_consistency(m, n, roots[m], roots[n], c)
            for i in range(len(c)):
                must_reject_quiet(
                    lambda: verify_consistency(
                        m, n, roots[m], roots[n], c[:i] + [flip_bit(c[i], 7)] + c[i + 1 :]
                    )
                )
            must_reject_quiet(lambda: verify_consistency(m, n, roots[m], roots[n], c + [roots[0]]))
            must_reject_quiet(lambda: verify_consistency(m, n, roots[m], roots[n], c[:-1]))
    ok("RFC 9162 proofs for every pair of sizes up to 33 verify; altered ones are rejected")

    key = VerifierKey(KAT_VKEY)
    text = open_note(KAT_NOTE, key)
    if not text.startswith("If you think cryptography"):
        raise Reject("KAT: signed note text was not returned")
    ok("KAT: the C2SP/x-mod PeterNeumann signed note verifies with its verifier key")
    must_reject(
        "KAT signed note with its text changed",
        lambda: open_note(KAT_NOTE.replace(b"problem,", b"problem;"), key),
    )
    must_reject(
        "KAT verifier key with a wrong key id",
        lambda: VerifierKey(KAT_VKEY.replace("c74f20a3", "c74f20a4")),
    )


def must_reject_quiet(check) -> None:
    try:
        check()
    except Reject:
        return
    raise Reject("negative self-check: the Merkle verifier ACCEPTED an altered proof")


# ---------------------------------------------------------------------------------------
# The artifacts.


def read(directory: str, name: str) -> bytes:
    p = os.path.join(directory, name)
    try:
        with open(p, "rb") as f:
            return f.read()
    except OSError as e:
        raise Reject(f"cannot read {p}: {e}") from None


def check_tlog_proof(data: bytes, leaf_bytes: bytes, key: VerifierKey) -> tuple:
    """Parses a tlog-proof, verifies its checkpoint and the inclusion of the leaf in it."""
    proof = TlogProof(data)
    cp = Checkpoint(proof.checkpoint, key)
    if cp.origin != key.name:
        raise Reject(f"checkpoint origin {cp.origin!r} is not the key name {key.name!r}")
    verify_inclusion(proof.index, cp.size, leaf_hash(leaf_bytes), proof.hashes, cp.root)
    return proof, cp


def check_artifacts(directory: str) -> None:
    key_text = read(directory, "key.txt").decode("utf-8")
    if not key_text.endswith("\n") or key_text.count("\n") != 1:
        raise Reject(f"key.txt: expected one line ending in a newline, got {key_text!r}")
    key = VerifierKey(key_text[:-1])
    ok(
        f"verifier key {key.name}+{key.key_id.hex()} parses and its key id is SHA-256(name, 0x0A, 0x01, key)[:4]"
    )

    checkpoints = {}
    for label in ("old", "new"):
        try:
            cp = Checkpoint(read(directory, f"checkpoint-{label}.txt"), key)
        except Reject as e:
            raise Reject(f"checkpoint-{label}.txt: {e}") from None
        if cp.origin != key.name:
            raise Reject(
                f"checkpoint-{label}: origin {cp.origin!r} is not the key name {key.name!r}"
            )
        if cp.extensions:
            raise Reject(f"checkpoint-{label}: unexpected extension lines {cp.extensions!r}")
        checkpoints[label] = cp
        ok(f"checkpoint-{label} (size {cp.size}) has a valid Ed25519 signature; origin == key name")
    old, new = checkpoints["old"], checkpoints["new"]
    if not 0 < old.size < new.size:
        raise Reject(
            f"checkpoints: expected 0 < old size < new size, got {old.size} and {new.size}"
        )

    consistency = parse_hash_lines(read(directory, "consistency.txt"), "consistency proof")
    try:
        verify_consistency(old.size, new.size, old.root, new.root, consistency)
    except Reject as e:
        raise Reject(f"consistency.txt: {e}") from None
    ok(
        f"consistency proof {old.size} -> {new.size} ({len(consistency)} hashes) verifies against both roots"
    )

    events_dir = os.path.join(directory, "events")
    ids = sorted(
        n[: -len(".event.json")] for n in os.listdir(events_dir) if n.endswith(".event.json")
    )
    if not ids:
        raise Reject(f"{events_dir}: no *.event.json files")
    leaves_by_index = {}
    proofs = {}
    for event_id in ids:
        event_bytes = read(events_dir, f"{event_id}.event.json")
        leaf_bytes = read(events_dir, f"{event_id}.leaf.json")
        check_event_and_leaf(event_id, event_bytes, leaf_bytes)
        ok(f"event {event_id}: RFC 8785 canonical; leaf == rfc8785(header + body_sha256)")

        try:
            proof, cp = check_tlog_proof(
                read(events_dir, f"{event_id}.tlog-proof"), leaf_bytes, key
            )
        except Reject as e:
            raise Reject(f"{event_id}.tlog-proof: {e}") from None
        for label, known in (("old", old), ("new", new)):
            if cp.size == known.size and cp.note != known.note:
                raise Reject(
                    f"{event_id}.tlog-proof: its checkpoint of size {cp.size} differs from checkpoint-{label}.txt"
                )
        ok(f"proof {event_id}: index {proof.index} included in signed checkpoint of size {cp.size}")
        if proof.index in leaves_by_index:
            raise Reject(f"proof {event_id}: index {proof.index} is also claimed by another event")
        leaves_by_index[proof.index] = leaf_bytes
        proofs[event_id] = (proof, cp)

    # When every leaf of the newer tree is here, rebuild both trees from scratch and
    # require agentrail's roots and proofs to be exactly the RFC's (they are unique).
    if sorted(leaves_by_index) == list(range(new.size)):
        leaves = [leaves_by_index[i] for i in range(new.size)]
        for label, cp in (("old", old), ("new", new)):
            if mth(leaves[: cp.size]) != cp.root:
                raise Reject(
                    f"checkpoint-{label}: root is not MTH of the {cp.size} exported leaves"
                )
        ok(
            f"MTH of all exported leaves equals both checkpoint roots (sizes {old.size} and {new.size})"
        )
        for event_id, (proof, cp) in proofs.items():
            if proof.hashes != path(proof.index, leaves[: cp.size]):
                raise Reject(
                    f"proof {event_id}: hashes differ from RFC 9162 PATH({proof.index}, D[{cp.size}])"
                )
        if consistency != consistency_proof(old.size, leaves[: new.size]):
            raise Reject(
                f"consistency proof: differs from RFC 9162 PROOF({old.size}, D[{new.size}])"
            )
        ok("every inclusion proof equals RFC 9162 PATH and the consistency proof equals PROOF")
    else:
        print(
            f"NOTE only {len(leaves_by_index)} of {new.size} leaves exported: roots not rebuilt",
            flush=True,
        )

    # Negative self-checks on the real artifacts: the same code must reject tampering.
    event_id = ids[0]
    proof, cp = proofs[event_id]
    event_bytes = read(events_dir, f"{event_id}.event.json")
    leaf_bytes = read(events_dir, f"{event_id}.leaf.json")
    middle = len(leaf_bytes) // 2
    tampered_leaf = (
        leaf_bytes[:middle] + bytes([leaf_bytes[middle] ^ 0x01]) + leaf_bytes[middle + 1 :]
    )
    must_reject(
        f"leaf {event_id} with byte {middle} changed, against its event",
        lambda: check_event_and_leaf(event_id, event_bytes, tampered_leaf),
    )
    must_reject(
        f"leaf {event_id} with byte {middle} changed, against its inclusion proof",
        lambda: verify_inclusion(
            proof.index, cp.size, leaf_hash(tampered_leaf), proof.hashes, cp.root
        ),
    )
    body_at = event_bytes.index(b'"nonce":"') + len(b'"nonce":"')
    tampered_event = (
        event_bytes[:body_at] + bytes([event_bytes[body_at] ^ 0x01]) + event_bytes[body_at + 1 :]
    )
    must_reject(
        f"event {event_id} with a body byte changed",
        lambda: check_event_and_leaf(event_id, tampered_event, leaf_bytes),
    )
    for i in range(len(proof.hashes)):
        tampered = proof.hashes[:i] + [flip_bit(proof.hashes[i])] + proof.hashes[i + 1 :]
        must_reject(
            f"proof {event_id} with hash {i} changed",
            lambda: verify_inclusion(
                proof.index, cp.size, leaf_hash(leaf_bytes), tampered, cp.root
            ),
        )
    must_reject(
        f"proof {event_id} with its index changed",
        lambda: verify_inclusion(
            proof.index ^ 1, cp.size, leaf_hash(leaf_bytes), proof.hashes, cp.root
        ),
    )
    size_line = f"\n{new.size}\n".encode("ascii")
    must_reject(
        "checkpoint-new with its size changed",
        lambda: Checkpoint(
            new.note.replace(size_line, f"\n{new.size + 1}\n".encode("ascii"), 1), key
        ),
    )
    root_line = base64.b64encode(new.root)
    must_reject(
        "checkpoint-new with its root changed",
        lambda: Checkpoint(
            new.note.replace(root_line, base64.b64encode(flip_bit(new.root)), 1), key
        ),
    )
    must_reject(
        "checkpoint-new with the old checkpoint's signature",
        lambda: Checkpoint(new.note.split(b"\n\n")[0] + b"\n\n" + old.note.split(b"\n\n")[1], key),
    )
    for i in range(len(consistency)):
        tampered = consistency[:i] + [flip_bit(consistency[i])] + consistency[i + 1 :]
        must_reject(
            f"consistency proof with hash {i} changed",
            lambda: verify_consistency(old.size, new.size, old.root, new.root, tampered),
        )
    must_reject(
        "consistency proof against a changed new root",
        lambda: verify_consistency(old.size, new.size, old.root, flip_bit(new.root), consistency),
    )


def main(argv: list) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} ARTIFACT_DIR", file=sys.stderr)
        return 2
    try:
        known_answer_tests()
        check_artifacts(argv[1])
    except Reject as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("all independent checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
