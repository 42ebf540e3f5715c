#!/usr/bin/env python3
"""An independent verifier of agentrail evidence bundles, written from the documentation only.

Sources: docs/evidence.md (the bundle), and the byte formats it refers to in docs/design.md:
the leaf and "Reading a leaf back", the stored event and `leaf_from_event`, Keys, Signed note,
Checkpoint body, tlog-proof, Canonical JSON and the Merkle tree. The RFC 9162 inclusion
(section 2.1.3.2) and consistency (section 2.1.4.2) verification algorithms are written here
from the RFC text. No code is shared with agentrail, and none of it was read to write this.

Libraries: `rfc8785` (RFC 8785 canonical JSON), `cryptography` (Ed25519) and the standard
library.

Usage: verify_bundle.py BUNDLE_DIR_OR_ZIP VKEY

VKEY is the log's verifier key (`agentrail key`), or the path of a file holding it. Prints one
line per check, `<item>: VALID` or `<item>: INVALID: <reason>`, then a summary. Exit 0 when
every check is valid; 1 when any is not, or the key does not parse; 2 when it could not run
(usage, no such path, not a zip), as evidence.md says of `agentrail verify-bundle`.

Not re-derived (said in the output): the narratives, policies/in-force.json (only its
structure, its record list and its texts' hashes are checked), inventory.json,
controls.json, index.html, and the assessment (not re-derivable from a bundle, per
evidence.md). Kept checkpoints (`verify-bundle --trusted`) are not an input; a
checkpoints/trusted/<n>.proof is checked when the population gives the root at n.
"""


from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import json
import os
import re
import stat
import sys
import zipfile

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

USAGE = "usage: verify_bundle.py BUNDLE_DIR_OR_ZIP VKEY (the key, or a file holding it)"
FORMAT = "agentrail.evidence/v1"
EMPTY_ROOT = hashlib.sha256(b"").digest()
SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
HEX64 = re.compile(r"[0-9a-f]{64}")
DECIMAL = re.compile(r"0|[1-9][0-9]*")
EM_DASH = "\u2014"
# design.md, "The stored event": the header members; "Reading a leaf back": the leaf's.
REQUIRED_HEADER = ("schema", "event_id", "session_id", "agent_id", "kind", "ts", "received_at", "source")
OPTIONAL_HEADER = ("principal", "trace_id", "span_id", "parent_span_id")
LEAF_MEMBERS = set(REQUIRED_HEADER) | set(OPTIONAL_HEADER) | {"body_sha256"}
RECORD_KINDS = ("agentrail.policy", "agentrail.inventory")


class Invalid(Exception):
    """A check failed; the message is the reason."""


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Output


class Report:
    def __init__(self) -> None:
        self.valid = 0
        self.invalid = 0

    def ok(self, item: str, detail: str = "") -> None:
        self.valid += 1
        print(f"{esc(item)}: VALID" + (f" ({detail})" if detail else ""))

    def bad(self, item: str, reason: str) -> None:
        self.invalid += 1
        print(f"{esc(item)}: INVALID: {reason}")

    def check(self, item: str, fn, *args) -> object:
        """Runs fn(*args); an `Invalid` is reported against item. Returns fn's result or None."""
        try:
            result = fn(*args)
        except Invalid as e:
            self.bad(item, str(e))
            return None
        detail = result if isinstance(result, str) else ""
        self.ok(item, detail)
        return result

    def note(self, text: str) -> None:
        print(f"NOT CHECKED: {text}")


def esc(text: str) -> str:
    """Text from the bundle, printed escaped (no controls, no bidi tricks)."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0 or 0x200B <= o <= 0x200F or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069 or o == 0xFEFF:
            out.append(f"\\u{{{o:x}}}")
        else:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# JSON: strict parse, RFC 8785 canonical form


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise Invalid(f"duplicate member {k!r}")
        obj[k] = v
    return obj


def _no_constant(name):
    raise Invalid(f"non-finite number {name}")


def parse_json(data: bytes, what: str):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid(f"{what} is not UTF-8: {e}") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise Invalid(f"{what} is not JSON: {e}") from None


def canonical(value) -> bytes:
    try:
        return rfc8785.dumps(value)
    except Exception as e:  # rfc8785 raises its own error types for out-of-domain numbers
        raise Invalid(f"cannot canonicalize: {e}") from None


def parse_canonical(data: bytes, what: str):
    value = parse_json(data, what)
    if canonical(value) != data:
        raise Invalid(f"{what} is not RFC 8785 canonical JSON")
    return value


# ---------------------------------------------------------------------------------------------
# Base64, keys, signed notes, checkpoints (design.md, "Keys, signed notes and checkpoints")


def b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Invalid(f"{what} is not base64: {text[:60]!r}") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise Invalid(f"{what} is not canonical padded base64")
    return raw


def b64hash(text: str, what: str) -> bytes:
    raw = b64decode(text, what)
    if len(raw) != 32:
        raise Invalid(f"{what} is {len(raw)} bytes, not 32")
    return raw


def valid_key_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 or ord(c) == 0x7F for c in name)


def key_id(name: str, pub: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + b"\x01" + pub).digest()[:4]


class VerifierKey:
    def __init__(self, vkey: str) -> None:
        parts = vkey.split("+", 2)  # the base64 key may itself hold "+"
        if len(parts) != 3:
            raise UsageError("the key is not <name>+<key id>+<base64 key>")
        name, hexid, b64 = parts
        if not valid_key_name(name):
            raise UsageError("the key's name is empty or has whitespace, '+' or control characters")
        if not re.fullmatch(r"[0-9a-f]{8}", hexid):
            raise UsageError("the key id is not 8 lowercase hex digits")
        try:
            raw = b64decode(b64, "the key")
        except Invalid as e:
            raise UsageError(str(e)) from None
        if len(raw) != 33 or raw[0] != 0x01:
            raise UsageError("the key is not 0x01 followed by a 32-byte Ed25519 public key")
        self.name = name
        self.pub = raw[1:]
        self.id = key_id(name, self.pub)
        if self.id.hex() != hexid:
            raise UsageError(f"the key id {hexid} does not match the key (it is {self.id.hex()})")
        self.text = vkey
        self.ed = Ed25519PublicKey.from_public_bytes(self.pub)


def open_note(data: bytes, key: VerifierKey, what: str) -> bytes:
    """Verifies a C2SP signed note; returns its text (the signed bytes)."""
    try:
        msg = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{what} is not UTF-8") from None
    sep = msg.rfind("\n\n")
    if sep < 0:
        raise Invalid(f"{what} has no signature block (no blank line)")
    text, sigs = msg[: sep + 1], msg[sep + 2 :]
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise Invalid(f"{what}'s text has control characters")
    if not sigs.endswith("\n"):
        raise Invalid(f"{what}'s signature block does not end in a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > 100:
        raise Invalid(f"{what} has more than 100 signature lines")
    verified = 0
    for line in lines:
        if not line.startswith(EM_DASH + " "):
            raise Invalid(f"{what} has a signature line that does not start with an em dash and a space: {esc(line[:60])}")
        fields = line[2:].split(" ")
        if len(fields) != 2 or not valid_key_name(fields[0]):
            raise Invalid(f"{what} has a malformed signature line")
        name, b64 = fields
        raw = b64decode(b64, f"{what}'s signature")
        if len(raw) < 5:
            raise Invalid(f"{what} has a signature too short for a key id")
        if name != key.name or raw[:4] != key.id:
            continue  # another key's signature (a witness): ignored
        if len(raw) != 68:
            raise Invalid(f"{what}'s signature by {esc(name)} is {len(raw) - 4} bytes, not 64")
        try:
            key.ed.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise Invalid(f"{what}'s signature by {esc(name)} (key id {raw[:4].hex()}) does not verify") from None
        verified += 1
    if verified == 0:
        raise Invalid(f"{what} has no signature by {esc(key.name)} with key id {key.id.hex()}")
    return text.encode("utf-8")


class Checkpoint:
    def __init__(self, origin: str, size: int, root: bytes) -> None:
        self.origin, self.size, self.root = origin, size, root


def parse_checkpoint_body(text: bytes, key: VerifierKey, what: str) -> Checkpoint:
    body = text.decode("utf-8")
    if not body.endswith("\n"):
        raise Invalid(f"{what} does not end in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise Invalid(f"{what} has fewer than 3 lines")
    origin, size, root = lines[:3]
    if any(not ext for ext in lines[3:]):
        raise Invalid(f"{what} has an empty extension line")
    if not origin:
        raise Invalid(f"{what} has an empty origin")
    if origin != key.name:
        raise Invalid(f"{what}'s origin {esc(origin)!r} is not the key name {esc(key.name)!r}")
    if not DECIMAL.fullmatch(size):
        raise Invalid(f"{what}'s size {esc(size)!r} is not a decimal without sign or leading zero")
    return Checkpoint(origin, int(size), b64hash(root, f"{what}'s root"))


def open_checkpoint(data: bytes, key: VerifierKey, what: str) -> Checkpoint:
    return parse_checkpoint_body(open_note(data, key, what), key, what)


# ---------------------------------------------------------------------------------------------
# Merkle tree (design.md, "The Merkle tree"; RFC 9162 section 2.1)


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, lhash: bytes, path: list[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Invalid(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, lhash
    for p in path:
        if sn == 0:
            raise Invalid("the inclusion proof has too many hashes")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("the inclusion proof has too few hashes")
    if r != root:
        raise Invalid("the inclusion proof does not lead to the checkpoint's root")


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]) -> None:
    """RFC 9162 section 2.1.4.2, with design.md's rules for sizes 0 and equal sizes."""
    if first > second:
        raise Invalid(f"the old size {first} is above the new size {second}")
    if first == second or first == 0:
        if path:
            raise Invalid("the consistency proof must be empty from size 0 or between equal sizes")
        if first == 0 and first_hash != EMPTY_ROOT:
            raise Invalid("the old root is not the empty tree's root")
        if first == second and first_hash != second_hash:
            raise Invalid("equal sizes with different roots")
        return
    if not path:
        raise Invalid("the consistency proof is empty")
    path = list(path)
    if first & (first - 1) == 0:  # an exact power of 2
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Invalid("the consistency proof has too many hashes")
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != first_hash:
        raise Invalid("the consistency proof does not lead to the start root")
    if sr != second_hash:
        raise Invalid("the consistency proof does not lead to the end root")
    if sn != 0:
        raise Invalid("the consistency proof has too few hashes")


class CompactRange:
    """The right edge of a tree: (size, hash) of its maximal complete subtrees, largest first."""

    def __init__(self, frontier: list[bytes], size: int) -> None:
        sizes = [1 << b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
        if len(sizes) != len(frontier):
            raise Invalid(f"the frontier has {len(frontier)} hashes; size {size} has {len(sizes)} one bits")
        self.stack = list(zip(sizes, frontier))
        self.size = size

    def append(self, lhash: bytes) -> None:
        self.stack.append((1, lhash))
        while len(self.stack) >= 2 and self.stack[-1][0] == self.stack[-2][0]:
            (n, right), (_, left) = self.stack.pop(), self.stack.pop()
            self.stack.append((2 * n, node(left, right)))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        h = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            h = node(left, h)
        return h


# ---------------------------------------------------------------------------------------------
# Leaves, events, tlog-proofs (design.md, "The stored event", "Reading a leaf back", "tlog-proof")


def parse_leaf(data: bytes, what: str) -> dict:
    leaf = parse_canonical(data, what)
    if not isinstance(leaf, dict):
        raise Invalid(f"{what} is not a JSON object")
    extra = set(leaf) - LEAF_MEMBERS
    if extra:
        raise Invalid(f"{what} has members that are not header members: {sorted(extra)}")
    for m in REQUIRED_HEADER + ("body_sha256",):
        if not isinstance(leaf.get(m), str):
            raise Invalid(f"{what} has no string {m}")
    for m in OPTIONAL_HEADER:
        if m in leaf and not isinstance(leaf[m], str):
            raise Invalid(f"{what}'s {m} is not a string")
    if leaf["schema"] != "agentrail.event/v1":
        raise Invalid(f"{what}'s schema is not agentrail.event/v1")
    if not HEX64.fullmatch(leaf["body_sha256"]):
        raise Invalid(f"{what}'s body_sha256 is not 64 lowercase hex digits")
    return leaf


def leaf_from_event(data: bytes, what: str) -> tuple[bytes, dict]:
    event = parse_canonical(data, what)
    if not isinstance(event, dict) or not isinstance(event.get("body"), dict):
        raise Invalid(f"{what} is not an object with a body object")
    if "body_sha256" in event:
        raise Invalid(f"{what} has a body_sha256 member")
    body = event.pop("body")
    event["body_sha256"] = hashlib.sha256(canonical(body)).hexdigest()
    leaf = canonical(event)
    return leaf, parse_leaf(leaf, f"the leaf of {what}")


class TlogProof:
    def __init__(self, index: int, path: list[bytes], checkpoint: bytes) -> None:
        self.index, self.path, self.checkpoint = index, path, checkpoint


def parse_tlog_proof(data: bytes, what: str) -> TlogProof:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{what} is not UTF-8") from None
    sep = text.find("\n\n")
    if sep < 0:
        raise Invalid(f"{what} has no blank line before its checkpoint")
    head, checkpoint = text[:sep].split("\n"), text[sep + 2 :]
    if head[0] != "c2sp.org/tlog-proof@v1":
        raise Invalid(f"{what} does not start with c2sp.org/tlog-proof@v1")
    rest = head[1:]
    if rest and rest[0].startswith("extra "):
        b64decode(rest[0][6:], f"{what}'s extra line")  # not authenticated: only parsed
        rest = rest[1:]
    if not rest or not rest[0].startswith("index ") or not DECIMAL.fullmatch(rest[0][6:]):
        raise Invalid(f"{what} has no index line")
    index = int(rest[0][6:])
    hashes = rest[1:]
    if len(hashes) > 64:
        raise Invalid(f"{what} has more than 64 hashes")
    path = [b64hash(h, f"{what}'s hash {i}") for i, h in enumerate(hashes)]
    return TlogProof(index, path, checkpoint.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Time (design.md, "ts normalization"; evidence.md, "--from")

RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def instant(text: str, what: str) -> int:
    """Nanoseconds since the epoch, for an RFC 3339 time with an offset or a date (midnight UTC)."""
    m = RFC3339.fullmatch(text)
    if m:
        y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
        nanos = int((m.group(7) or "").ljust(9, "0"))
        off = m.group(8)
        offset = 0
        if off not in ("Z", "z"):
            offset = (int(off[1:3]) * 60 + int(off[4:6])) * 60 * (1 if off[0] == "+" else -1)
    else:
        m = DATE.fullmatch(text)
        if not m:
            raise Invalid(f"{what} {esc(text)!r} is not an RFC 3339 time or a date")
        y, mo, d = (int(x) for x in m.groups())
        h = mi = s = nanos = offset = 0
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        raise Invalid(f"{what} {esc(text)!r} is out of range")
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) - offset
    return secs * 1_000_000_000 + nanos


# ---------------------------------------------------------------------------------------------
# Reading the bundle


def valid_path(name: str) -> bool:
    segs = name.split("/")
    return all(SEGMENT.fullmatch(s) and s not in (".", "..") for s in segs)


def read_bundle(path: str, report: Report) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    bad = 0
    if os.path.isdir(path):
        for root, dirs, names in os.walk(path, followlinks=False):
            for d in list(dirs):
                full = os.path.join(root, d)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                if os.path.islink(full) or not valid_path(rel):
                    report.bad(f"entry {rel}", "a link or an invalid path")
                    bad += 1
                    dirs.remove(d)
            for n in names:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    report.bad(f"entry {rel}", "not a regular file")
                    bad += 1
                elif not valid_path(rel):
                    report.bad(f"entry {rel}", "not a valid bundle path")
                    bad += 1
                else:
                    with open(full, "rb") as f:
                        files[rel] = f.read()
    elif os.path.isfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            raise UsageError(f"{path} is neither a directory nor a zip: {e}") from None
        with zf:
            for info in zf.infolist():
                name = info.filename
                # Unix file type bits, when the zip records them (creator system 3 = Unix).
                ftype = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
                if name.endswith("/") and valid_path(name[:-1]):
                    continue  # a directory entry: accepted and ignored
                if not valid_path(name):
                    report.bad(f"entry {name}", "not a valid bundle path")
                    bad += 1
                elif ftype and ftype != stat.S_IFREG:
                    report.bad(f"entry {name}", "not a regular file (a link?)")
                    bad += 1
                elif name in files:
                    report.bad(f"entry {name}", "appears more than once")
                    bad += 1
                else:
                    files[name] = zf.read(info)
    else:
        raise UsageError(f"no such bundle: {path}")
    if not bad:
        report.ok("entries", f"{len(files)} files, every path valid, regular files, each once")
    return files


# ---------------------------------------------------------------------------------------------
# The checks


class Bundle:
    def __init__(self, files: dict[str, bytes], key: VerifierKey, report: Report) -> None:
        self.files, self.key, self.r = files, key, report
        self.meta: dict = {}
        self.end: Checkpoint | None = None
        self.end_note: bytes = b""
        self.start_size = 0
        self.start_root = EMPTY_ROOT
        self.population: list[bytes] | None = None  # leaves, line k = leaf start_size + k
        self.pop_leaves: list[dict] = []
        self.sessions: list[dict] | None = None
        # checkpoints/trusted/<size>.proof (`evidence --trusted`): the consistency proof between
        # <size> and the end size, from the smaller to the larger, one base64 hash per line.
        self.trusted = sorted(int(m.group(1)) for m in (re.fullmatch(r"checkpoints/trusted/(0|[1-9][0-9]*)\.proof", p) for p in files) if m)
        self.roots_at: dict[int, bytes] = {}

    def get(self, path: str) -> bytes:
        if path not in self.files:
            raise Invalid(f"{path} is missing")
        return self.files[path]

    # 2. MANIFEST ---------------------------------------------------------------------------
    def manifest(self) -> str:
        text = open_note(self.get("MANIFEST"), self.key, "MANIFEST").decode("utf-8")
        lines = text[:-1].split("\n")
        if lines[0] != FORMAT:
            raise Invalid(f"the first line is not {FORMAT}")
        self.listed: dict[str, str] = {}
        prev = None
        for line in lines[1:]:
            m = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
            if not m:
                raise Invalid(f"a line is not '<sha256 hex>  <path>': {esc(line[:80])}")
            digest, path = m.groups()
            if not valid_path(path) or path == "MANIFEST":
                raise Invalid(f"invalid path {esc(path)!r}")
            if prev is not None and path.encode() <= prev.encode():
                raise Invalid(f"paths are not sorted bytewise and unique at {esc(path)!r}")
            prev = path
            self.listed[path] = digest
        return f"{len(self.listed)} files, signed by {esc(self.key.name)}"

    # 3. files --------------------------------------------------------------------------------
    def every_file(self) -> None:
        for path, digest in self.listed.items():
            if path not in self.files:
                self.r.bad(f"file {path}", "missing")
                continue
            actual = hashlib.sha256(self.files[path]).hexdigest()
            if actual != digest:
                self.r.bad(f"file {path}", f"its SHA-256 is {actual[:8]}…, the manifest says {digest[:8]}…")
            else:
                self.r.ok(f"file {path}")
        for path in sorted(self.files):
            if path != "MANIFEST" and path not in self.listed:
                self.r.bad(f"file {path}", "not in the manifest")

    # 4. verifier.vkey, bundle.json -------------------------------------------------------------
    def vkey(self) -> None:
        if self.get("verifier.vkey") != (self.key.text + "\n").encode("utf-8"):
            raise Invalid("it is not the key given (the given key is the one trusted)")

    def bundle_json(self) -> str:
        meta = parse_canonical(self.get("bundle.json"), "bundle.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise Invalid(f"format is not {FORMAT}")
        if meta.get("kind") not in ("period", "session"):
            raise Invalid(f"kind {meta.get('kind')!r} is neither period nor session")
        log = meta.get("log")
        if not isinstance(log, dict) or log.get("origin") != self.key.name or log.get("key") != self.key.text:
            raise Invalid("log.origin and log.key are not the given key's name and the given key")
        for k in ("end", "sample"):
            if not isinstance(meta.get(k), dict):
                raise Invalid(f"no {k} object")
        if meta["kind"] == "period":
            for k in ("period", "start", "population"):
                if not isinstance(meta.get(k), dict):
                    raise Invalid(f"a period bundle without {k}")
            if not isinstance(meta.get("agents"), list):
                raise Invalid("a period bundle without agents")
        else:
            for k in ("period", "agents"):
                if k in meta:
                    raise Invalid(f"a session bundle with {k}")
            start = meta.get("start")
            if not isinstance(start, dict) or set(start) != {"size"} or not isinstance(start["size"], int):
                raise Invalid('a session bundle\'s start is not {"size": <first leaf>} (no root)')
            if not isinstance(meta.get("population"), dict):
                raise Invalid("a session bundle without population counts")
            s = meta["sample"]
            if s.get("method") != "session" or not isinstance(s.get("sessions"), list) or len(s["sessions"]) != 1:
                raise Invalid("a session bundle's sample is not {method: session, sessions: [id]}")
        self.meta = meta
        return f"a {meta['kind']} bundle"

    # 5. checkpoints ------------------------------------------------------------------------
    def end_checkpoint(self) -> str:
        self.end_note = self.get("checkpoints/end.checkpoint")
        cp = open_checkpoint(self.end_note, self.key, "the end checkpoint")
        want = self.meta["end"]
        if want.get("size") != cp.size or want.get("root") != base64.b64encode(cp.root).decode():
            raise Invalid(f"it signs size {cp.size}, bundle.json says end {want}")
        self.end = cp
        return f"size {cp.size}, signed by {esc(self.key.name)}"

    def start_checkpoint(self) -> str:
        want = self.meta["start"]
        size, root = want.get("size"), want.get("root")
        if not isinstance(size, int) or not isinstance(root, str) or not 0 <= size <= self.end.size:
            raise Invalid(f"bundle.json start {want} is not a size up to the end's and a root")
        root = b64hash(root, "bundle.json start.root")
        present = "checkpoints/start.checkpoint" in self.files
        if size == 0:
            if present:
                raise Invalid("the start is the empty tree but there is a start checkpoint")
            if root != EMPTY_ROOT:
                raise Invalid("the start is the empty tree but its root is not SHA-256 of nothing")
            self.start_size, self.start_root = 0, root
            return "the empty tree"
        cp = open_checkpoint(self.get("checkpoints/start.checkpoint"), self.key, "the start checkpoint")
        if cp.size != size or cp.root != root:
            raise Invalid(f"it signs size {cp.size}, bundle.json says start {want}")
        self.start_size, self.start_root = size, root
        return f"size {size}, signed by {esc(self.key.name)}"

    # 6. population -------------------------------------------------------------------------
    def consistency(self) -> str:
        raw = self.get("checkpoints/consistency.proof").decode("utf-8", "replace")
        if raw and not raw.endswith("\n"):
            raise Invalid("the last line does not end in a newline")
        lines = raw[:-1].split("\n") if raw else []
        path = [b64hash(h, f"hash {i}") for i, h in enumerate(lines)]
        verify_consistency(self.start_size, self.end.size, self.start_root, self.end.root, path)
        return f"{len(path)} hashes prove size {self.start_size} to {self.end.size}"

    def population_roots(self) -> str:
        raw = self.get("population/frontier.txt").decode("utf-8", "replace")
        if raw and not raw.endswith("\n"):
            raise Invalid("frontier.txt's last line does not end in a newline")
        frontier = [b64hash(h, f"frontier hash {i}") for i, h in enumerate(raw[:-1].split("\n") if raw else [])]
        tree = CompactRange(frontier, self.start_size)
        wanted = set(self.trusted)
        if tree.size in wanted:
            self.roots_at[tree.size] = tree.root()
        if self.meta["kind"] == "session":
            # No checkpoint signs a session bundle's start: the frontier is proven by the end
            # root alone (evidence.md, "The population", step 1).
            self.start_root = tree.root()
        elif tree.root() != self.start_root:
            raise Invalid("the frontier does not fold to the start checkpoint's root")
        data = self.get("population/leaves.ndjson")
        if data and not data.endswith(b"\n"):
            raise Invalid("leaves.ndjson does not end in a newline")
        lines = data[:-1].split(b"\n") if data else []
        leaves = []
        for k, line in enumerate(lines):
            leaves.append(parse_leaf(line, f"leaf {self.start_size + k} (line {k + 1})"))
            tree.append(leaf_hash(line))
            if tree.size in wanted:
                self.roots_at[tree.size] = tree.root()
        if tree.size != self.end.size:
            raise Invalid(f"start {self.start_size} plus {len(lines)} leaves is {tree.size}, not the end size {self.end.size}")
        if tree.root() != self.end.root:
            raise Invalid("the leaves do not hash to the end checkpoint's root: a leaf was altered, dropped, added or reordered")
        self.population, self.pop_leaves = lines, leaves
        if self.meta["kind"] == "session":
            return f"the frontier and leaves {self.start_size} to {self.end.size} hash to the end checkpoint's root"
        return f"leaves {self.start_size} to {self.end.size} hash to both checkpoints' roots"

    def derived_sessions(self) -> str:
        if self.population is None:
            raise Invalid("the population did not verify")
        records = 0
        by_id: dict[str, dict] = {}
        for k, leaf in enumerate(self.pop_leaves):
            i = self.start_size + k
            if leaf["kind"].startswith("agentrail."):
                records += 1
                continue
            s = by_id.get(leaf["session_id"])
            if s is None:
                s = by_id[leaf["session_id"]] = {
                    "session_id": leaf["session_id"], "agents": set(), "leaves": 0, "first_leaf": i,
                    "first_received_at": leaf["received_at"], "kinds": {},
                }
            s["agents"].add(leaf["agent_id"])
            s["leaves"] += 1
            s["last_leaf"], s["last_received_at"] = i, leaf["received_at"]
            s["kinds"][leaf["kind"]] = s["kinds"].get(leaf["kind"], 0) + 1
        sessions = []
        for sid in sorted(by_id, key=lambda x: x.encode("utf-8")):
            s = by_id[sid]
            s["agents"] = sorted(s["agents"], key=lambda x: x.encode("utf-8"))
            sessions.append(s)
        derived = canonical({"leaves": len(self.population), "records": records, "sessions": sessions})
        actual = self.get("population/sessions.json")
        if derived != actual:
            raise Invalid("sessions.json is not what the leaves derive")
        pop = self.meta["population"]
        want = {"leaves": len(self.population), "records": records, "sessions": len(sessions)}
        if pop != want:
            raise Invalid(f"bundle.json population {pop} is not the derived {want}")
        self.sessions = sessions
        return f"{len(sessions)} sessions, {records} agentrail records, equal to bundle.json's counts"

    def sample(self) -> str:
        if self.sessions is None:
            raise Invalid("sessions.json did not verify")
        s = self.meta["sample"]
        ids = [x["session_id"] for x in self.sessions]
        got = s.get("sessions")
        if not isinstance(got, list) or not all(isinstance(x, str) for x in got):
            raise Invalid("sample.sessions is not a list of ids")
        if s.get("method") == "list":
            # evidence.md does not say a list sample has `candidates`; the bundles do (inferred:
            # the number of population sessions, after the --agent filter).
            n_cands = len([x for x in self.sessions if not self.meta["agents"] or any(a in self.meta["agents"] for a in x["agents"])])
            if "candidates" in s and s["candidates"] != n_cands:
                raise Invalid(f"sample.candidates is {s['candidates']}, there are {n_cands}")
            missing = [x for x in got if x not in set(ids)]
            if missing:
                raise Invalid(f"the list names sessions outside the population: {esc(str(missing[:5]))}")
            if len(set(got)) != len(got):
                raise Invalid("the list names a session twice")
            return f"the auditor's list of {len(got)} session(s), all in the population"
        if s.get("method") != "seed":
            raise Invalid(f"sample.method {s.get('method')!r} is neither seed nor list")
        try:
            seed = bytes.fromhex(s.get("seed", ""))
        except (TypeError, ValueError):
            raise Invalid("sample.seed is not hex") from None
        if s.get("seed") != seed.hex():
            raise Invalid("sample.seed is not lowercase hex")
        if s.get("seed_source") == "end-root":
            if seed != self.end.root:
                raise Invalid("seed_source is end-root but the seed is not the end root")
        elif s.get("seed_source") != "given":
            raise Invalid(f"seed_source {s.get('seed_source')!r} is neither end-root nor given")
        agents = self.meta["agents"]
        cands = [x["session_id"] for x in self.sessions if not agents or any(a in agents for a in x["agents"])]
        if s.get("candidates") != len(cands):
            raise Invalid(f"sample.candidates is {s.get('candidates')}, there are {len(cands)}")
        n = s.get("requested")
        if not isinstance(n, int) or not 1 <= n <= 10000:
            raise Invalid("sample.requested is not 1 to 10,000")
        keyed = sorted(cands, key=lambda sid: hashlib.sha256(seed + b"\x00" + sid.encode("utf-8")).digest())
        want = keyed[:n]
        if got != want:
            raise Invalid("sample.sessions is not the seed's draw")
        src = "the end root" if s["seed_source"] == "end-root" else "given"
        return f"the {len(want)} session(s) with the smallest SHA-256(seed || 0x00 || id) of {len(cands)} candidates, seed {src}"

    def boundaries(self) -> None:
        b = parse_canonical(self.get("period/boundaries.json"), "boundaries.json")
        if not isinstance(b, dict) or set(b) != {"start", "end"}:
            raise Invalid("it is not {start, end}")
        period = self.meta["period"]
        frm = instant(period.get("from"), "period.from") if isinstance(period.get("from"), str) else None
        if frm is None:
            raise Invalid("bundle.json period.from is not a time")
        to = period.get("to")
        self.bound("start", b["start"], self.start_size, frm)
        if to is None:
            self.point("end", b["end"], self.end.size)
            self.r.note("period end bound: no --to, the period ends at the last checkpoint (only the start bound is checkable, per evidence.md)")
        elif isinstance(to, str):
            self.bound("end", b["end"], self.end.size, instant(to, "period.to"))
        else:
            raise Invalid("bundle.json period.to is neither null nor a time")

    def point(self, what: str, p, size: int, nested: bool = False) -> int:
        """Checks a point's checkpoint and timing leaf; returns the timing leaf's received_at.

        A bound's point has `previous`; the `previous` point itself has no `previous` member
        (inferred from the bundle bytes: evidence.md's grammar says every point has one)."""
        members = {"size", "checkpoint", "time_leaf"} | (set() if nested else {"previous"})
        if not isinstance(p, dict) or set(p) != members:
            raise Invalid(f"the {what} point's members are not {sorted(members)}")
        if p["size"] != size:
            raise Invalid(f"the {what} point's size is {p['size']}, not {size}")
        if size == 0:
            if p["checkpoint"] is not None:
                raise Invalid(f"the {what} point is the empty tree but has a checkpoint")
            if p.get("previous") is not None:
                raise Invalid(f"the {what} point is the empty tree but has a previous point")
        else:
            if not isinstance(p["checkpoint"], str):
                raise Invalid(f"the {what} point has no checkpoint")
            cp = open_checkpoint(p["checkpoint"].encode("utf-8"), self.key, f"the {what} point's checkpoint")
            if cp.size != size:
                raise Invalid(f"the {what} point's checkpoint signs size {cp.size}, not {size}")
            if size == self.start_size and what == "start" and cp.root != self.start_root:
                raise Invalid("the start point's checkpoint root is not the start root")
            if size == self.end.size and cp.root != self.end.root:
                raise Invalid(f"the {what} point's checkpoint root is not the end root")
        tl = p["time_leaf"]
        if not isinstance(tl, dict) or set(tl) != {"index", "leaf", "proof"}:
            raise Invalid(f"the {what} point's time_leaf is not {{index, leaf, proof}}")
        want = max(size - 1, 0)
        if tl["index"] != want:
            raise Invalid(f"the {what} point's timing leaf is {tl['index']}, not {want}")
        if not isinstance(tl["leaf"], str) or not isinstance(tl["proof"], list):
            raise Invalid(f"the {what} point's time_leaf has no leaf text or proof list")
        leaf_bytes = tl["leaf"].encode("utf-8")
        leaf = parse_leaf(leaf_bytes, f"the {what} point's timing leaf")
        path = [b64hash(h, f"the {what} point's proof hash") if isinstance(h, str) else b"" for h in tl["proof"]]
        try:
            verify_inclusion(want, self.end.size, leaf_hash(leaf_bytes), path, self.end.root)
        except Invalid as e:
            raise Invalid(f"the {what} point's timing leaf {want}: {e}") from None
        if self.population is not None and self.start_size <= want < self.end.size:
            if self.population[want - self.start_size] != leaf_bytes:
                raise Invalid(f"the {what} point's timing leaf is not the population's leaf {want}")
        return instant(leaf["received_at"], f"leaf {want}'s received_at")

    def bound(self, what: str, p, size: int, t: int) -> None:
        at = self.point(what, p, size)
        if at < t:
            raise Invalid(f"the {what} bound's timing leaf was received before the bound")
        prev = p["previous"]
        if prev is None:
            if size != 0:
                raise Invalid(f"the {what} point has no previous point but is not the empty tree")
            return
        if not isinstance(prev, dict) or not isinstance(prev.get("size"), int) or not 0 <= prev["size"] < size:
            raise Invalid(f"the {what} point's previous point is not below it")
        before = self.point(f"{what} previous", prev, prev["size"], nested=True)
        if before >= t:
            raise Invalid(f"the point before the {what} bound was timed at or after the bound: the bound is not the first")

    # 7, 8. records and sampled sessions -----------------------------------------------------
    def proven_event(self, path: str, index: int) -> dict:
        """Checks one event file and its tlog-proof into the end checkpoint; returns its leaf."""
        leaf_bytes, leaf = leaf_from_event(self.get(path), path)
        proof_path = path[: -len(".json")] + ".tlog-proof"
        proof = parse_tlog_proof(self.get(proof_path), proof_path)
        if proof.checkpoint != self.end_note:
            raise Invalid(f"{proof_path}'s checkpoint is not checkpoints/end.checkpoint byte for byte")
        if proof.index != index:
            raise Invalid(f"{proof_path}'s index is {proof.index}, the file is named {index}")
        verify_inclusion(index, self.end.size, leaf_hash(leaf_bytes), proof.path, self.end.root)
        if self.population is not None and self.start_size <= index < self.end.size:
            if self.population[index - self.start_size] != leaf_bytes:
                raise Invalid(f"its leaf differs from the population's leaf {index}")
        return leaf

    def indexed_files(self, prefix: str) -> tuple[dict[int, str], list[str]]:
        """`<prefix><i>.json` and `.tlog-proof` files; returns {i: json path} and stray names."""
        found: dict[int, str] = {}
        proofs: set[int] = set()
        stray = []
        for path in sorted(self.files):
            if not path.startswith(prefix) or "/" in path[len(prefix) :]:
                continue
            name = path[len(prefix) :]
            m = re.fullmatch(r"(0|[1-9][0-9]*)\.(json|tlog-proof)", name)
            if not m:
                stray.append(path)
            elif m.group(2) == "json":
                found[int(m.group(1))] = path
            else:
                proofs.add(int(m.group(1)))
        stray += [f"{prefix}{i}.tlog-proof" for i in sorted(proofs - set(found))]
        return found, stray

    def trusted_proofs(self) -> None:
        """checkpoints/trusted/<size>.proof: checkable here when the population gives the root
        at that size; otherwise only with the kept checkpoint (not an input of this script)."""
        for size in self.trusted:
            def one(size=size):
                path = f"checkpoints/trusted/{size}.proof"
                raw = self.get(path).decode("utf-8", "replace")
                if raw and not raw.endswith("\n"):
                    raise Invalid("the last line does not end in a newline")
                hashes = [b64hash(h, f"hash {i}") for i, h in enumerate(raw[:-1].split("\n") if raw else [])]
                if size in self.roots_at:
                    verify_consistency(size, self.end.size, self.roots_at[size], self.end.root, hashes)
                    return f"proves the tree of {size} leaves (its root computed from the population) consistent with the end"
                self.r.note(f"{path}: size {size} is outside the population, its root is unknown to the bundle: check it with the kept checkpoint")
                return "parsed"
            self.r.check(f"checkpoints/trusted/{size}.proof", one)

    def records(self) -> None:
        found, stray = self.indexed_files("policies/records/")
        for path in stray:
            self.r.bad(path, "not a record with its proof")
        for i, path in sorted(found.items()):
            def one(i=i, path=path):
                leaf = self.proven_event(path, i)
                if leaf["kind"] not in RECORD_KINDS:
                    raise Invalid(f"kind {esc(leaf['kind'])!r} is not a policy or inventory record")
                return f"{leaf['kind']}, proven into the end checkpoint"
            self.r.check(f"policy record {i}", one)
        if self.population is not None:
            def complete():
                missing = [self.start_size + k for k, l in enumerate(self.pop_leaves) if l["kind"] in RECORD_KINDS and self.start_size + k not in found]
                if missing:
                    raise Invalid(f"the population's records {missing[:10]} are not in policies/records/")
                return "every policy and inventory record of the population is included"
            self.r.check("policy records complete", complete)

        def in_force():
            f = parse_canonical(self.get("policies/in-force.json"), "in-force.json")
            if not isinstance(f, dict) or f.get("at_size") != self.end.size:
                raise Invalid("at_size is not the end size")
            if f.get("records") != sorted(found):
                raise Invalid("its records are not the records of policies/records/")
            texts = set()
            for entry in f.get("files", []):
                path = entry.get("file")
                text = self.get(path)
                digest = hashlib.sha256(text).hexdigest()
                if digest != entry.get("sha256") or path != f"policies/text/{digest}.cedar":
                    raise Invalid(f"{esc(str(path))}: the text's SHA-256 is not its name and sha256")
                texts.add(path)
            extra = [p for p in self.files if p.startswith("policies/text/") and p not in texts]
            if extra:
                raise Invalid(f"texts not in force: {extra[:5]}")
            return "at the end size, lists the records, texts hash to their names (the replay is NOT re-derived)"
        self.r.check("policies/in-force.json (structure only)", in_force)

    def sampled_sessions(self) -> None:
        ids = self.meta["sample"].get("sessions") or []
        expected_dirs = set()
        for rank, sid in enumerate(ids, 1):
            d = f"sessions/{rank:03d}/"
            expected_dirs.add(d)
            found, stray = self.indexed_files(d + "events/")
            others = [p for p in self.files if p.startswith(d) and not p.startswith(d + "events/") and p not in (d + "narrative.md", d + "narrative.html")]
            others += [p for p in self.files if p.startswith(d + "events/") and "/" in p[len(d + "events/") :]]
            for path in stray + others:
                self.r.bad(path, f"not an event, its proof or a narrative of session {esc(sid)}")
            for part in ("narrative.md", "narrative.html"):
                if d + part not in self.files:
                    self.r.bad(d + part, "missing")
            if not found:
                self.r.bad(f"session {sid}", "no events")
            for i, path in sorted(found.items()):
                def one(i=i, path=path, sid=sid):
                    leaf = self.proven_event(path, i)
                    if leaf["session_id"] != sid or leaf["kind"].startswith("agentrail."):
                        raise Invalid(f"it is not an event of session {esc(sid)}")
                    return f"{esc(leaf['kind'])}, proven into the end checkpoint"
                self.r.check(f"session {sid} event {i}", one)
            if self.population is not None:
                def complete(found=found, sid=sid):
                    missing = [
                        self.start_size + k
                        for k, l in enumerate(self.pop_leaves)
                        if l["session_id"] == sid and not l["kind"].startswith("agentrail.") and self.start_size + k not in found
                    ]
                    if missing:
                        raise Invalid(f"the population's leaves {missing[:10]} of this session have no event in the bundle")
                    return "every population leaf of the session has its event"
                self.r.check(f"session {sid} complete", complete)
            else:
                self.r.note(f"session {esc(sid)} completeness: a session bundle has no population to compare with")
        strays = sorted({p.split("/")[0] + "/" + p.split("/")[1] + "/" for p in self.files if p.startswith("sessions/") and p.count("/") >= 2} - expected_dirs)
        for d in strays:
            self.r.bad(d, "not the directory of a sampled session")

    def layout(self) -> None:
        """evidence.md "Layout": every file is one the table names (for the bundle's kind)."""
        period = self.meta["kind"] == "period"
        fixed = {"MANIFEST", "bundle.json", "verifier.vkey", "checkpoints/end.checkpoint", "policies/in-force.json", "inventory.json", "controls.json", "index.html",
                 "population/frontier.txt", "population/leaves.ndjson", "population/sessions.json"}
        if period:
            fixed |= {"checkpoints/consistency.proof", "period/boundaries.json", "assessment/assessment.json", "assessment/assessment.md", "assessment/assessment.html"}
            if self.meta["start"].get("size") != 0:
                fixed.add("checkpoints/start.checkpoint")
        missing = sorted(fixed - set(self.files))
        if missing:
            raise Invalid(f"missing {missing}")
        pattern = re.compile(r"checkpoints/trusted/(0|[1-9][0-9]*)\.proof|policies/(records/(0|[1-9][0-9]*)\.(json|tlog-proof)|text/[0-9a-f]{64}\.cedar)|sessions/[0-9]{3,}/(events/(0|[1-9][0-9]*)\.(json|tlog-proof)|narrative\.(md|html))")
        unknown = sorted(p for p in self.files if p not in fixed and not pattern.fullmatch(p))
        if unknown:
            raise Invalid(f"files the layout does not name: {unknown[:5]}")
        return "every file is one evidence.md's layout names"


def json_files_canonical(b: Bundle) -> str:
    bad = []
    for path, data in sorted(b.files.items()):
        if path.endswith(".json") and path != "assessment/assessment.json":
            try:
                parse_canonical(data, path)
            except Invalid:
                bad.append(path)
    if bad:
        raise Invalid(f"not canonical JSON: {bad[:5]}")
    return "every .json file but the assessment is RFC 8785 canonical"


def run(bundle_path: str, key: VerifierKey) -> int:
    r = Report()
    files = read_bundle(bundle_path, r)
    b = Bundle(files, key, r)
    if r.check("MANIFEST", b.manifest) is None:
        print("The manifest does not verify with the key given: nothing else is trusted; checking stops")
        print("The bundle is INVALID")
        return 1
    b.every_file()
    r.check("verifier.vkey", b.vkey)
    if r.check("bundle.json", b.bundle_json) is None:
        print("The bundle is INVALID")
        return 1
    r.check("layout", b.layout)
    r.check("json", json_files_canonical, b)
    if r.check("checkpoint end", b.end_checkpoint) is None:
        print("The bundle is INVALID")
        return 1
    if b.meta["kind"] == "period":
        r.check("checkpoint start", b.start_checkpoint)
        r.check("consistency", b.consistency)
        r.check("population", b.population_roots)
        r.check("population/sessions.json", b.derived_sessions)
        r.check("sample", b.sample)
        r.check("period/boundaries.json", b.boundaries)
    else:
        def session_start():
            size = b.meta["start"]["size"]
            if not 0 <= size < b.end.size:
                raise Invalid(f"start.size {size} is not below the end size {b.end.size}")
            if "checkpoints/start.checkpoint" in b.files or "checkpoints/consistency.proof" in b.files or "period/boundaries.json" in b.files:
                raise Invalid("a session bundle has a start checkpoint, a consistency proof or bounds")
            b.start_size = size
            return f"size {size}, no checkpoint (proven with the population)"
        r.check("start", session_start)
        r.check("population", b.population_roots)
        r.check("population/sessions.json", b.derived_sessions)

        def session_sample():
            sid = b.meta["sample"]["sessions"][0]
            if b.sessions is None:
                raise Invalid("sessions.json did not verify")
            entry = [x for x in b.sessions if x["session_id"] == sid]
            if not entry:
                raise Invalid(f"{esc(sid)} is not a session of the population")
            if entry[0]["first_leaf"] != b.start_size:
                raise Invalid(f"the session's first leaf in the population is {entry[0]['first_leaf']}, not start.size {b.start_size}")
            return f"a session bundle for {esc(sid)}: the population starts at its first event"
        r.check("sample", session_sample)
    b.trusted_proofs()
    b.records()
    b.sampled_sessions()
    r.note("narratives (sessions/*/narrative.md, .html): not re-derived (design.md \"The session index\" and policy.md would be needed); hashed and signed in the manifest only")
    r.note("policies/in-force.json replay and inventory.json: not re-derived (needs policy.md's replay); hashed and signed only")
    r.note("controls.json and index.html: not re-derived; hashed and signed only")
    r.note("assessment/: the team's report, not re-derivable from a bundle (evidence.md); hashed and signed only")
    total = r.valid + r.invalid
    print(f"Results: {total} items checked: {r.valid} valid, {r.invalid} invalid")
    print("The bundle is " + ("VALID" if r.invalid == 0 else "INVALID"))
    return 0 if r.invalid == 0 else 1


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(USAGE, file=sys.stderr)
        return 2
    key_arg = argv[2]
    if os.path.isfile(key_arg):
        with open(key_arg, encoding="utf-8") as f:
            key_arg = f.read()
        if key_arg.endswith("\n"):
            key_arg = key_arg[:-1]
    try:
        key = VerifierKey(key_arg)
    except UsageError as e:
        print(f"key: INVALID: {e}")
        print("The bundle is INVALID")
        return 1
    try:
        return run(argv[1], key)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
