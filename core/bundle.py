"""Model bundles: one file holding a trained pipeline, loadable without executing code from it.

A bundle is a zip archive with:

- ``manifest.json``: format version, library versions, method, parameters, threshold, scaler kind,
  feature schema, the JSON part of the detector's state and a SHA-256 checksum of every other member;
- ``arrays.npz``: every numeric array (scaler statistics, model weights), read with
  ``allow_pickle=False``;
- ``sklearn/<key>.skops``: fitted scikit-learn estimators, read with skops, trusting only
  scikit-learn's own types.

Nothing is unpickled, so a bundle from someone else cannot run code on load. Corrupt, tampered
(checksum mismatch), unsafe or incompatible bundles raise :class:`~core.errors.BundleError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .errors import BundleError, CoreError

FORMAT_NAME = "anomaly-detection-bundle"
FORMAT_VERSION = 1
MAX_UNCOMPRESSED_BYTES = 4 * 1024**3  # refuses zip bombs
_ALLOWED_MEMBER_PREFIXES = ("manifest.json", "arrays.npz", "sklearn/")
_TRUSTED_TYPE_PREFIXES = ("sklearn.",)


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
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a bundle manifest")


def dumps(manifest: dict[str, Any], state: dict[str, Any]) -> bytes:
    """Serialise ``manifest`` (JSON-able) and ``state`` (arrays, estimators, JSON values) to bytes."""
    import skops.io as sio
    from sklearn.base import BaseEstimator

    arrays, estimators, plain = {}, {}, {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"state '{key}' is an object array; bundles hold numeric arrays only")
            arrays[key] = value
        elif isinstance(value, BaseEstimator):
            estimators[key] = sio.dumps(value)
        else:
            plain[key] = _json_safe(value)

    members: dict[str, bytes] = {}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members["arrays.npz"] = buffer.getvalue()
    for key, blob in estimators.items():
        members[f"sklearn/{key}.skops"] = blob

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
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(full_manifest, indent=1))
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


def loads(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a bundle made by :func:`dumps`; return ``(manifest, state)``.

    Raises
    ------
    BundleError
        Not a bundle, corrupt, tampered with, holding untrusted types or of another format version.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, TypeError, ValueError) as exc:
        raise BundleError("This file is not a model bundle (it is not a valid bundle archive).") from exc
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if "manifest.json" not in names:
            raise BundleError("This file is not a model bundle: it has no manifest.")
        unexpected = [n for n in names if not n.startswith(_ALLOWED_MEMBER_PREFIXES) or ".." in n]
        if unexpected:
            raise BundleError(f"The bundle holds unexpected files ({unexpected[0]}); refusing to load it.")
        if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED_BYTES:
            raise BundleError("The bundle unpacks to more than 4 GiB; refusing to load it.")
        try:
            manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
            members = {n: archive.read(n) for n in names if n != "manifest.json"}
        except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
            raise BundleError(f"The bundle is corrupt: {exc}") from exc

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise BundleError("This file is not a model bundle made by this product.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"The bundle has format version {manifest.get('format_version')}; "
                          f"this version reads version {FORMAT_VERSION}. Retrain or use a matching version.")
    checksums = manifest.get("checksums", {})
    if set(checksums) != set(members):
        raise BundleError("The bundle's contents do not match its manifest; it was modified after saving.")
    for name, blob in members.items():
        if _sha256(blob) != checksums[name]:
            raise BundleError(f"The bundle member '{name}' fails its checksum; it is corrupt or was tampered with.")

    state: dict[str, Any] = dict(manifest.get("state", {}))
    try:
        with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as arrays:
            for key in manifest.get("array_keys", []):
                state[key] = arrays[key]
    except (KeyError, ValueError, OSError) as exc:
        raise BundleError(f"The bundle's arrays cannot be read safely: {exc}") from exc
    for key in manifest.get("estimator_keys", []):
        state[key] = _load_estimator(members.get(f"sklearn/{key}.skops"), key)
    return manifest, state


def _load_estimator(blob: bytes | None, key: str):
    import skops.io as sio

    if blob is None:
        raise BundleError(f"The bundle lacks the estimator '{key}'.")
    try:
        untrusted = sio.get_untrusted_types(data=blob)
    except Exception as exc:
        raise BundleError(f"The estimator '{key}' in the bundle is corrupt: {exc}") from exc
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_TYPE_PREFIXES)]
    if refused:
        raise BundleError(f"The bundle contains types that are not allowed ({', '.join(refused[:3])}); "
                          "refusing to load it, since it could run code.")
    try:
        return sio.loads(blob, trusted=untrusted)
    except CoreError:
        raise
    except Exception as exc:
        raise BundleError(f"The estimator '{key}' in the bundle cannot be loaded: {exc}") from exc
