"""Model bundles: round trip, and refusal of corrupt, tampered, unsafe or foreign files."""

import io
import json
import zipfile

import numpy as np
import pytest

from core.errors import BundleError
from core.pipeline import DetectionPipeline

rng = np.random.default_rng(0)
TRAIN = rng.normal(size=(200, 3))
TEST = rng.normal(size=(20, 3))


@pytest.fixture(scope="module")
def bundle_bytes():
    return DetectionPipeline("isolation_forest", {"n_estimators": 20}).fit(TRAIN, feature_names=["a", "b", "c"]).to_bytes()


def _rewrite(data: bytes, edit) -> bytes:
    """Copy a bundle, letting ``edit(name, blob)`` change members (return None to drop one)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            blob = edit(name, source.read(name))
            if blob is not None:
                target.writestr(name, blob)
    return out.getvalue()


def test_round_trip_keeps_schema_threshold_and_versions(bundle_bytes):
    loaded = DetectionPipeline.from_bytes(bundle_bytes)
    assert loaded.feature_names_ == ["a", "b", "c"]
    assert "numpy" in loaded.manifest_["library_versions"]
    original = DetectionPipeline("isolation_forest", {"n_estimators": 20}).fit(TRAIN, feature_names=["a", "b", "c"])
    np.testing.assert_array_equal(original.score(TEST), loaded.score(TEST))


def test_not_a_bundle():
    with pytest.raises(BundleError, match="not a model bundle"):
        DetectionPipeline.from_bytes(b"hello world")


def test_truncated_bundle(bundle_bytes):
    with pytest.raises(BundleError):
        DetectionPipeline.from_bytes(bundle_bytes[: len(bundle_bytes) // 2])


def test_tampered_arrays_fail_checksum(bundle_bytes):
    def edit(name, blob):
        if name == "arrays.npz":
            arrays = dict(np.load(io.BytesIO(blob)))
            arrays["scaler.center"] = arrays["scaler.center"] + 1.0
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            return buffer.getvalue()
        return blob

    with pytest.raises(BundleError, match="checksum"):
        DetectionPipeline.from_bytes(_rewrite(bundle_bytes, edit))


def test_extra_member_is_refused(bundle_bytes):
    data = _rewrite(bundle_bytes, lambda name, blob: blob)
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("payload.pkl", b"anything")
    with pytest.raises(BundleError, match="unexpected"):
        DetectionPipeline.from_bytes(out.getvalue())


def test_pickle_inside_arrays_is_never_loaded(bundle_bytes):
    """An attacker who also rewrites the checksums still cannot get an object array unpickled."""
    import hashlib

    evil = io.BytesIO()
    np.save(evil, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    original = zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(io.BytesIO(bundle_bytes)).read("arrays.npz")))
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        for member in original.namelist():
            archive.writestr(member, evil.getvalue() if member == "scaler.center.npy" else original.read(member))

    def edit(name, blob):
        if name == "arrays.npz":
            return npz.getvalue()
        if name == "manifest.json":
            manifest = json.loads(blob)
            manifest["checksums"]["arrays.npz"] = hashlib.sha256(npz.getvalue()).hexdigest()
            return json.dumps(manifest)
        return blob

    with pytest.raises(BundleError, match="numeric arrays only"):
        DetectionPipeline.from_bytes(_rewrite(bundle_bytes, edit))


def test_untrusted_type_in_estimator_is_refused(bundle_bytes):
    """A skops member naming a non-scikit-learn type (here os.system) is refused before loading."""
    import hashlib

    import skops.io as sio

    def edit(name, blob):
        if name.startswith("sklearn/"):
            inner = zipfile.ZipFile(io.BytesIO(blob))
            schema = json.loads(inner.read("schema.json"))
            schema["__module__"], schema["__class__"] = "os", "system"
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w") as rebuilt:
                for member in inner.namelist():
                    rebuilt.writestr(member, json.dumps(schema) if member == "schema.json" else inner.read(member))
            return out.getvalue()
        return blob

    tampered = _rewrite(bundle_bytes, edit)
    # recompute checksums so that only the type check stands in the way
    members = {n: zipfile.ZipFile(io.BytesIO(tampered)).read(n) for n in zipfile.ZipFile(io.BytesIO(tampered)).namelist()}

    def fix(name, blob):
        if name == "manifest.json":
            manifest = json.loads(blob)
            manifest["checksums"] = {n: hashlib.sha256(b).hexdigest() for n, b in members.items() if n != "manifest.json"}
            return json.dumps(manifest)
        return blob

    assert sio  # skops is what reads the member
    with pytest.raises(BundleError, match="not allowed"):
        DetectionPipeline.from_bytes(_rewrite(tampered, fix))


def test_other_format_version(bundle_bytes):
    def edit(name, blob):
        if name == "manifest.json":
            manifest = json.loads(blob)
            manifest["format_version"] = 99
            return json.dumps(manifest)
        return blob

    with pytest.raises(BundleError, match="format version 99"):
        DetectionPipeline.from_bytes(_rewrite(bundle_bytes, edit))


def test_missing_file(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        DetectionPipeline.load(tmp_path / "none.bundle")


def test_scoring_a_frame_without_the_model_features(bundle_bytes):
    import pandas as pd

    from core.errors import DataError

    with pytest.raises(DataError, match="lacks the model's feature columns: c"):
        DetectionPipeline.from_bytes(bundle_bytes).score(pd.DataFrame({"a": [1.0], "b": [2.0]}))
