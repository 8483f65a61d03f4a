"""Model bundles: one file holding a trained pipeline, loadable without executing code from it.

A bundle is a zip archive with exactly these members:

- ``manifest.json``: format version, library versions, method, parameters, threshold, scaler kind,
  feature schema, the JSON part of the detector's state and a SHA-256 checksum of every other member;
- ``arrays.npz``: every numeric array (scaler statistics, model weights);
- ``sklearn/<key>.skops``: fitted scikit-learn estimators in skops format;
- ``signature`` (only when a signing key is configured, see :mod:`core.signing`).

Loading reads nothing it has not bounded first: member names, counts, declared and actual sizes,
JSON size and nesting, and every array's dtype and shape (from its ``.npy`` header) are checked
against the limits below before anything is allocated; arrays are numeric only and never
unpickled; skops members may only name the exact types in :mod:`core.safe_estimators`. Whatever
is wrong, the error is one :class:`~core.errors.BundleError` with a plain message.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import stat
import zipfile
from datetime import datetime, timezone
from typing import Any, Callable

import numpy as np

from . import signing
from .errors import BundleError

FORMAT_NAME = "anomaly-detection-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
SIGNATURE = "signature"

#: Largest bundle file accepted.
MAX_BUNDLE_BYTES = 1024**3
#: Everything a bundle unpacks to (members, the arrays inside them, skops' members) shares one
#: budget: this many times the bundle's size, at least MIN_UNPACKED_BYTES and at most
#: MAX_UNPACKED_BYTES. Real bundles unpack to a few times their size; zip bombs to hundreds.
UNPACK_RATIO = 16
MIN_UNPACKED_BYTES = 64 * 1024**2
MAX_UNPACKED_BYTES = 2 * 1024**3
MAX_MANIFEST_BYTES = 16 * 1024**2
MAX_SIGNATURE_BYTES = 4096
MAX_JSON_DEPTH = 32
MAX_SKOPS_SCHEMA_BYTES = 64 * 1024**2
MAX_SKOPS_JSON_DEPTH = 64
MAX_BUNDLE_MEMBERS = 16
MAX_ARRAYS = 10_000
MAX_SKOPS_MEMBERS = 50_000
MAX_ARRAY_DIMENSIONS = 8
#: The manifest fields :func:`dumps` writes around the caller's own fields.
ENVELOPE_FIELDS = frozenset({"format", "format_version", "created", "library_versions", "state", "array_keys",
                             "estimator_keys", "checksums"})

_KEY = r"[A-Za-z0-9_][A-Za-z0-9_.]{0,199}"
_KEY_PATTERN = re.compile(_KEY)
_ESTIMATOR_MEMBER = re.compile(rf"sklearn/({_KEY})\.skops")
_NPZ_MEMBER = re.compile(rf"({_KEY})\.npy")
_SKOPS_MEMBER = re.compile(r"[A-Za-z0-9_-]{1,100}\.npy|schema\.json")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle depends on (recorded on save, compared on load)."""
    import importlib.metadata as metadata

    versions = {}
    for name in ("numpy", "scikit-learn", "torch", "tensorflow-cpu", "skops"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a diverged loss value in a training history is stored as null
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a bundle manifest")


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value that bundles store (sorted keys, no NaN, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def dumps(manifest: dict[str, Any], state: dict[str, Any], *, key: "bytes | None | signing.FromEnvironment"
          = signing.FROM_ENVIRONMENT) -> bytes:
    """Serialise ``manifest`` (JSON-able) and ``state`` (arrays, estimators, JSON values) to bytes.

    The bundle is signed with ``key`` (by default the configured key, see :mod:`core.signing`).
    """
    import skops.io as sio
    from sklearn.base import BaseEstimator

    key = signing.resolve_key(key)
    arrays, estimators, plain = {}, {}, {}
    for name, value in state.items():
        if not _KEY_PATTERN.fullmatch(name):
            raise TypeError(f"state key {name!r} cannot be stored in a bundle")
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                raise TypeError(f"state '{name}' is a {value.dtype} array; bundles hold numeric arrays only")
            arrays[name] = value
        elif isinstance(value, BaseEstimator):
            estimators[name] = sio.dumps(value)
        else:
            plain[name] = _json_safe(value)

    members: dict[str, bytes] = {}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members[ARRAYS] = buffer.getvalue()
    for name, blob in estimators.items():
        members[f"sklearn/{name}.skops"] = blob

    full_manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "library_versions": library_versions(),
        **_json_safe(manifest),
        "state": plain,
        "array_keys": sorted(arrays),
        "estimator_keys": sorted(estimators),
        "checksums": {name: _sha256(blob) for name, blob in members.items()},
    }
    manifest_bytes = canonical_json(full_manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, manifest_bytes)
        for name, blob in members.items():
            archive.writestr(name, blob)
        if key is not None:
            archive.writestr(SIGNATURE, signing.signature_member(key, manifest_bytes))
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# Reading with bounds
# ------------------------------------------------------------------------------------------------
class _Budget:
    """Bytes a load may still unpack; every read is charged before it happens."""

    def __init__(self, packed_size: int):
        self.left = min(MAX_UNPACKED_BYTES, max(MIN_UNPACKED_BYTES, UNPACK_RATIO * packed_size))
        self.total = self.left

    def charge(self, size: int, what: str) -> None:
        if size > self.left:
            raise BundleError(f"The bundle unpacks to more than {self.total // 1024**2} MiB ({what} alone declares "
                              f"{size:,} bytes); refusing to load it.")
        self.left -= size


def _open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise BundleError(f"{what} is not a valid archive; the file is not a model bundle or it is corrupt.") from exc


def _checked_infos(archive: zipfile.ZipFile, what: str, name_pattern: re.Pattern, max_members: int,
                   budget: _Budget) -> dict[str, zipfile.ZipInfo]:
    """The members of ``archive`` by name, after refusing anything a bundle never contains."""
    infos = archive.infolist()
    if len(infos) > max_members:
        raise BundleError(f"{what} has {len(infos)} members, more than the {max_members} allowed.")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise BundleError(f"{what} holds the member '{duplicate[:80]}' twice; refusing to load it.")
    for info in infos:
        if not name_pattern.fullmatch(info.filename):
            raise BundleError(f"{what} holds an unexpected member ('{info.filename[:80]}'); refusing to load it.")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG):
            raise BundleError(f"{what} holds '{info.filename}' as a link or special file; refusing to load it.")
        if info.flag_bits & 0x1:
            raise BundleError(f"{what} holds an encrypted member; refusing to load it.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BundleError(f"{what} uses an unsupported compression; refusing to load it.")
        budget.charge(info.file_size, f"'{info.filename}'")
    return {info.filename: info for info in infos}


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str, limit: int | None = None) -> bytes:
    """A member's bytes; its declared size was charged to the budget, and more is never read."""
    if limit is not None and info.file_size > limit:
        raise BundleError(f"{what} is {info.file_size:,} bytes, more than the {limit:,} allowed.")
    try:
        with archive.open(info) as stream:
            data = stream.read(info.file_size + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError) as exc:
        raise BundleError(f"{what} is corrupt ({exc}); the bundle was truncated or damaged.") from exc
    except Exception as exc:  # zlib.error and the like: a damaged stream, whatever the library calls it
        raise BundleError(f"{what} is corrupt ({type(exc).__name__}); the bundle was truncated or damaged.") from exc
    if len(data) != info.file_size:
        raise BundleError(f"{what} does not have the size its archive declares; the bundle is corrupt.")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _unique_keys(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return dict(pairs)


def parse_json(raw: bytes, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON bytes strictly: UTF-8, nesting at most ``max_depth``, no duplicate keys, finite numbers."""
    # Strings cannot nest; what remains once they are gone is the structure. Removing the innermost
    # empty pairs max_depth times leaves nothing unless the nesting is deeper (or unbalanced).
    structure = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw))
    for _ in range(max_depth):
        if not structure:
            break
        structure = structure.replace(b"[]", b"").replace(b"{}", b"")
    if structure:
        raise BundleError(f"{what} is nested more than {max_depth} levels deep or malformed; refusing to load it.")
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_refuse_constant,
                          parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{what} is not valid JSON ({str(exc)[:120]}); the bundle is corrupt.") from exc


def _npy_header(raw: bytes, what: str, *, structured: bool = False) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Shape, dtype, Fortran order and data offset of ``.npy`` bytes, read from the header alone.

    Only numeric dtypes are accepted (``structured`` also allows records of numeric fields, which
    scikit-learn's trees use); object arrays, and with them pickles, never get further.
    """
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # numpy raises ValueError, SyntaxError or others on a damaged header
        raise BundleError(f"{what} is not a valid numeric array ({str(exc)[:120]}).") from exc
    fields = [dtype.fields[name][0] for name in dtype.names] if dtype.names else [dtype]
    numeric = all(f.kind in "biuf" and f.subdtype is None and not f.hasobject for f in fields)
    if not numeric or (dtype.names and not structured) or dtype.hasobject:
        raise BundleError(f"{what} has the type {dtype}; bundles hold numeric arrays only (never objects or pickles).")
    if len(shape) > MAX_ARRAY_DIMENSIONS or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise BundleError(f"{what} declares an invalid shape {shape}.")
    nbytes = math.prod(shape) * dtype.itemsize
    offset = stream.tell()
    if offset + nbytes != len(raw):
        raise BundleError(f"{what} declares shape {shape} ({nbytes:,} bytes) but holds {len(raw) - offset:,} bytes; "
                          "the bundle is corrupt or crafted.")
    return shape, dtype, fortran, offset


def _read_arrays(blob: bytes, keys: list[str], budget: _Budget) -> dict[str, np.ndarray]:
    """The arrays of ``arrays.npz``: exactly ``keys``, each numeric and exactly as large as declared."""
    with _open_zip(blob, "The bundle's array file") as archive:
        infos = _checked_infos(archive, "The bundle's array file", _NPZ_MEMBER, MAX_ARRAYS, budget)
        present = {_NPZ_MEMBER.fullmatch(name).group(1): info for name, info in infos.items()}
        if set(present) != set(keys):
            raise BundleError("The bundle's arrays do not match its manifest; the bundle is corrupt.")
        arrays = {}
        for key in keys:
            raw = _read(archive, present[key], f"The array '{key}'")
            shape, dtype, fortran, offset = _npy_header(raw, f"The array '{key}'")
            flat = np.frombuffer(raw, dtype=dtype, offset=offset, count=math.prod(shape))
            arrays[key] = flat.reshape(shape, order="F" if fortran else "C").copy()
            del raw, flat
    return arrays


def _load_estimator(blob: bytes, key: str, budget: _Budget):
    """An estimator from a skops member, after its structure, types and arrays passed every check."""
    import skops.io as sio

    from .safe_estimators import TRUSTED_TYPE_NAMES, check_type_graph

    what = f"The estimator '{key}'"
    shapes = {}
    with _open_zip(blob, what) as archive:
        infos = _checked_infos(archive, what, _SKOPS_MEMBER, MAX_SKOPS_MEMBERS, budget)
        if "schema.json" not in infos:
            raise BundleError(f"{what} has no schema; the bundle is corrupt.")
        for name, info in infos.items():
            if name.endswith(".npy"):
                shapes[name] = _npy_header(_read(archive, info, f"{what}'s array"), f"{what}'s array",
                                           structured=True)[0]
        schema = parse_json(_read(archive, infos["schema.json"], f"{what}'s schema", MAX_SKOPS_SCHEMA_BYTES),
                            f"{what}'s schema", MAX_SKOPS_JSON_DEPTH)
    check_type_graph(schema, shapes)
    try:
        return sio.loads(blob, trusted=TRUSTED_TYPE_NAMES)
    except Exception as exc:  # skops raises many kinds on a malformed file; each means the same here
        raise BundleError(f"{what} cannot be loaded: {str(exc)[:200]}") from exc


# ------------------------------------------------------------------------------------------------
# The envelope: what dumps() writes around the pipeline's own fields
# ------------------------------------------------------------------------------------------------
def _check_envelope(manifest: Any, member_names: set[str]) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleError("This file is not a model bundle made by this product.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise BundleError(f"The bundle has format version {version!r}; this version reads version "
                          f"{FORMAT_VERSION}. Retrain or use a matching version.")
    created = manifest.get("created")
    if not isinstance(created, str) or len(created) > 64:
        raise BundleError("The bundle's manifest field 'created' must be a short text.")
    versions = manifest.get("library_versions")
    if not (isinstance(versions, dict) and len(versions) <= 32 and all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 64 for k, v in versions.items())):
        raise BundleError("The bundle's manifest field 'library_versions' must map library names to version texts.")
    if not isinstance(manifest.get("state"), dict) or not all(_KEY_PATTERN.fullmatch(k) for k in manifest["state"]):
        raise BundleError("The bundle's manifest field 'state' must be an object with simple keys.")
    groups = []
    for field, limit in (("array_keys", MAX_ARRAYS), ("estimator_keys", 64)):
        keys = manifest.get(field)
        if not (isinstance(keys, list) and len(keys) <= limit
                and all(isinstance(k, str) and _KEY_PATTERN.fullmatch(k) for k in keys) and len(set(keys)) == len(keys)):
            raise BundleError(f"The bundle's manifest field '{field}' must be a list of distinct simple names.")
        groups.append(set(keys))
    if (groups[0] & groups[1]) or ((groups[0] | groups[1]) & set(manifest["state"])):
        raise BundleError("The bundle's manifest names one state entry twice; the bundle is corrupt.")
    checksums = manifest.get("checksums")
    if not (isinstance(checksums, dict) and all(isinstance(v, str) and _HEX64.fullmatch(v) for v in checksums.values())):
        raise BundleError("The bundle's manifest field 'checksums' must map members to SHA-256 digests.")
    expected = {ARRAYS} | {f"sklearn/{k}.skops" for k in groups[1]}
    if set(checksums) != expected or member_names != expected:
        raise BundleError("The bundle's contents do not match its manifest; it was modified after saving.")


def loads(data: bytes, *, key: "bytes | None | signing.FromEnvironment" = signing.FROM_ENVIRONMENT,
          check_manifest: Callable[[dict], None] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a bundle made by :func:`dumps`; return ``(manifest, state)``.

    Parameters
    ----------
    data : bytes
        The bundle file's content.
    key : bytes, None or FROM_ENVIRONMENT
        Signing key: when there is one (by default the configured key), a bundle without a valid
        signature is refused; ``None`` accepts unsigned bundles.
    check_manifest : callable, optional
        Validates the caller's own manifest fields (raising :class:`BundleError`); called after
        the envelope is checked and before any array or estimator is read.

    Raises
    ------
    BundleError
        Not a bundle, corrupt, too large, unsigned or wrongly signed, tampered with, holding
        untrusted types or of another format version.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BundleError("A model bundle must be given as bytes.")
    data = bytes(data)
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"The bundle is larger than {MAX_BUNDLE_BYTES // 1024**2} MiB; refusing to load it.")
    key = signing.resolve_key(key)
    budget = _Budget(len(data))
    member_pattern = re.compile(rf"{re.escape(MANIFEST)}|{re.escape(ARRAYS)}|{SIGNATURE}|{_ESTIMATOR_MEMBER.pattern}")
    with _open_zip(data, "This file") as archive:
        infos = _checked_infos(archive, "The bundle", member_pattern, MAX_BUNDLE_MEMBERS, budget)
        if MANIFEST not in infos:
            raise BundleError("This file is not a model bundle: it has no manifest.")
        manifest_bytes = _read(archive, infos[MANIFEST], "The bundle's manifest", MAX_MANIFEST_BYTES)
        signature = (_read(archive, infos[SIGNATURE], "The bundle's signature", MAX_SIGNATURE_BYTES)
                     if SIGNATURE in infos else None)
        if key is not None:  # before anything in the file is parsed
            signing.verify(key, manifest_bytes, signature)
        manifest = parse_json(manifest_bytes, "The bundle's manifest")
        _check_envelope(manifest, set(infos) - {MANIFEST, SIGNATURE})
        if check_manifest is not None:
            check_manifest(manifest)
        members = {}
        for name in sorted(set(infos) - {MANIFEST, SIGNATURE}):
            members[name] = _read(archive, infos[name], f"The bundle member '{name}'")
            if _sha256(members[name]) != manifest["checksums"][name]:
                raise BundleError(f"The bundle member '{name}' fails its checksum; it is corrupt or was tampered with.")

    state: dict[str, Any] = dict(manifest["state"])
    state.update(_read_arrays(members.pop(ARRAYS), manifest["array_keys"], budget))
    for name in manifest["estimator_keys"]:
        state[name] = _load_estimator(members.pop(f"sklearn/{name}.skops"), name, budget)
    return manifest, state
