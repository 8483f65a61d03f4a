"""Optional signing of model bundles with a shared secret key (HMAC-SHA256).

A bundle's checksums only show that it was not damaged by accident: anyone who edits a bundle can
recompute them. A signature shows that the bundle was saved by someone holding the key. When a key
is configured, bundles are signed when saved and a bundle without a valid signature is refused
when loaded; without a key, bundles are saved unsigned and any signature is ignored.

The key comes from the environment, read each time it is needed:

- ``ANOMALY_BUNDLE_KEY``: the key itself (at least 16 characters);
- ``ANOMALY_BUNDLE_KEY_FILE``: the path of a file holding the key (trailing newlines ignored).

The signature is computed over the exact bytes of the manifest, which carries the SHA-256 of every
other member, so it covers the whole bundle. It is stored in the ``signature`` member.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from .errors import BundleError

KEY_ENV = "ANOMALY_BUNDLE_KEY"
KEY_FILE_ENV = "ANOMALY_BUNDLE_KEY_FILE"
ALGORITHM = "HMAC-SHA256"
MIN_KEY_BYTES = 16
#: Domain separation: a MAC made for something else with the same key never passes as a bundle's.
_CONTEXT = b"anomaly-detection-bundle signature v1\n"


class FromEnvironment:
    """Marker meaning "use the key configured in the environment" (the default everywhere)."""

    def __repr__(self) -> str:
        return "FROM_ENVIRONMENT"


FROM_ENVIRONMENT = FromEnvironment()


def _checked_key(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise BundleError(f"The bundle signing key in {where} is too short: use at least {MIN_KEY_BYTES} characters.")
    return key


def configured_key() -> bytes | None:
    """The signing key from the environment, or ``None`` when none is configured.

    Raises
    ------
    BundleError
        A key is configured but unusable (too short, unreadable file, or both variables set).
    """
    inline, path = os.environ.get(KEY_ENV), os.environ.get(KEY_FILE_ENV)
    if inline and path:
        raise BundleError(f"Both {KEY_ENV} and {KEY_FILE_ENV} are set; set only one of them.")
    if inline:
        return _checked_key(inline.encode("utf-8"), KEY_ENV)
    if path:
        return read_key_file(path)
    return None


def read_key_file(path) -> bytes:
    """The signing key held in the file ``path`` (trailing newlines ignored)."""
    try:
        key = Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise BundleError(f"Cannot read the bundle signing key file '{path}': {exc}") from exc
    return _checked_key(key, f"the file {path}")


def resolve_key(key: "bytes | None | FromEnvironment") -> bytes | None:
    """``key`` itself, or the configured key when ``key`` is :data:`FROM_ENVIRONMENT`."""
    if isinstance(key, FromEnvironment):
        return configured_key()
    if key is not None:
        return _checked_key(bytes(key), "use")
    return None


def key_fingerprint(key: bytes | None) -> str:
    """A short, non-secret name for a key (for caches and messages); ``"unsigned"`` for no key."""
    if key is None:
        return "unsigned"
    return hashlib.sha256(b"fingerprint\n" + key).hexdigest()[:16]


def _mac(key: bytes, manifest_bytes: bytes) -> str:
    return hmac.new(key, _CONTEXT + manifest_bytes, hashlib.sha256).hexdigest()


def signature_member(key: bytes, manifest_bytes: bytes) -> bytes:
    """The content of a bundle's ``signature`` member for these manifest bytes."""
    return json.dumps({"algorithm": ALGORITHM, "mac": _mac(key, manifest_bytes)}, sort_keys=True).encode("ascii")


def verify(key: bytes, manifest_bytes: bytes, signature: bytes | None) -> None:
    """Raise :class:`BundleError` unless ``signature`` is a valid signature of ``manifest_bytes`` with ``key``."""
    if signature is None:
        raise BundleError("This bundle is not signed, and this installation only loads signed bundles "
                          f"(a signing key is configured in {KEY_ENV} or {KEY_FILE_ENV}).")
    try:
        record = json.loads(signature.decode("ascii"))
        algorithm, mac = record["algorithm"], record["mac"]
        if not (isinstance(algorithm, str) and isinstance(mac, str)):
            raise TypeError("algorithm and mac must be text")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise BundleError("The bundle's signature is malformed; refusing to load it.") from exc
    if algorithm != ALGORITHM:
        raise BundleError(f"The bundle is signed with {algorithm!r}; only {ALGORITHM} is accepted.")
    if not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(key, manifest_bytes).encode("ascii")):
        raise BundleError("The bundle's signature does not match: it was modified after signing, or signed "
                          "with another key. Refusing to load it.")
