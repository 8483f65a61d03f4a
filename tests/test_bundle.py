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


# -- every method's bundle passes the validation it is held to ------------------------------------
LEAN_PARAMS = {"isolation_forest": {"n_estimators": 10}, "random_forest": {"n_estimators": 5},
               "dense_ae": {"epochs": 1}, "dense_ae_keras": {"epochs": 1}, "rolling_median": {"window": 5},
               "windowed_pca": {"window": 8},
               "lstm_ae": {"epochs": 1, "window": 8, "hidden_size": 4, "latent_size": 2, "num_layers": 1},
               "conv_ae": {"epochs": 1, "window": 8, "channels": 4},
               "windowed_knn": {"window": 8}, "windowed_lof": {"window": 8}, "matrix_profile": {"window": 8}}


@pytest.mark.parametrize("method", [  # matrix_profile: stumpy compiles its numba kernels on first use
    pytest.param(m, marks=pytest.mark.timeout(1800)) if m == "matrix_profile" else m
    for m in __import__("core.registry", fromlist=["METHODS"]).METHODS])
def test_every_method_round_trips_through_the_checks(method):
    from core.registry import get_method

    labels = (np.arange(len(TRAIN)) % 5 == 0).astype(int)
    pipeline = DetectionPipeline(method, LEAN_PARAMS.get(method, {})).fit(
        TRAIN, labels if get_method(method).supervised else None)
    loaded = DetectionPipeline.from_bytes(pipeline.to_bytes(key=None), key=None)
    np.testing.assert_allclose(loaded.score(TRAIN), pipeline.score(TRAIN), rtol=1e-6)


# -- the defects these checks exist for, one by one (cases from tests/hostile_bundles.py) ----------
@pytest.fixture(scope="module")
def hostile_cases(tmp_path_factory):
    from tests import hostile_bundles

    return {case.name: case.data for case in hostile_bundles.build_cases(tmp_path_factory.mktemp("c") / "canary")}


@pytest.mark.parametrize("name, message", [
    ("skops_function_transformer_check_output_named_sklearn", "not allowed.*FunctionTransformer"),
    ("skops_partial_os_system", "not allowed"),
    ("skops_hidden_key_node", "not allowed"),
    ("zip_bomb_member_1gib", "unpacks to more than 64 MiB"),
    ("npy_declares_1e12_elements", "declares shape"),
    ("npz_member_pickled_object_array", "numeric arrays only"),
    ("duplicate_manifest", "manifest.json' twice"),
    ("duplicate_inside_npz", "twice"),
    ("symlink_member", "link"),
    ("path_traversal_member", "unexpected member"),
    ("manifest_threshold_nan", "not valid JSON"),
    ("manifest_threshold_1e999", "not valid JSON"),
    ("manifest_features_3_list", "names 'f0' twice"),
    ("manifest_scaler_os_system", "field 'scaler' must be one of"),
    ("manifest_threshold_strategy_os_system", "threshold_spec"),
    ("deep_json_nesting_100k", "nested more than 32"),
    ("manifest_state_0_list", "field 'state' must be an object"),
    ("scaler_3_entries_for_10_features", r"shape \(3,\), but the model has 10 features"),
    ("lstm_params_describe_4gb_network", "weights do not match the network"),
    ("tree_child_index_out_of_range", "invalid node links"),
    ("tree_node_count_beyond_nodes", "declares more nodes than it holds"),
    ("svm_support_count_huge", "inconsistent arrays"),
    ("knn_training_rows_wrong_width", "inconsistent"),
])
def test_each_known_attack_is_refused_with_its_own_message(hostile_cases, name, message):
    with pytest.raises(BundleError, match=message):
        DetectionPipeline.from_bytes(hostile_cases[name], key=None)
