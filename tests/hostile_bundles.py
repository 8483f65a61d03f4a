"""Hostile model bundles: a generator, and a runner that loads them in a memory-capped process.

Every case is built from a real bundle by an attacker who knows the format: checksums are
recomputed after each edit (only the signature, which needs the key, cannot be forged), so each
case reaches the check meant to stop it. Payloads that could run code try to create a canary file.

``python -m tests.hostile_bundles write DIR CANARY`` writes the cases and an index;
``python -m tests.hostile_bundles run DIR [--only NAME ...] [--cap-mb N]`` loads them in this
process (under an address-space cap) and prints one JSON object: per case its outcome
("refused", "loaded" or "crashed"), the message, seconds and the peak RSS so far.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import operator
import os
import pickle
import struct
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REFUSE = "refuse"  # must raise BundleError
EITHER = "either"  # refused, or loads and scores finitely (the change is harmless)
MiB = 1024**2
#: Cases that could exhaust memory or crash a process: the test also runs each alone.
RISKY = ("zip_bomb_member_1gib", "npz_bomb_nested_1gib", "npy_declares_1e12_elements", "skops_npy_bomb",
         "manifest_bomb_1gib", "honest_200mb_zero_array", "lstm_params_describe_4gb_network",
         "tree_child_index_out_of_range", "tree_node_count_beyond_nodes", "svm_support_count_huge",
         "deep_json_nesting_100k", "huge_manifest_20mb", "zero_array_within_budget_24mb")


@dataclass
class HostileCase:
    name: str
    data: bytes
    expect: str = REFUSE


# ------------------------------------------------------------------------------------------------
# Raw zip writing: duplicates, links, lying sizes and odd names that zipfile would not write
# ------------------------------------------------------------------------------------------------
@dataclass
class Entry:
    name: str
    stored: bytes  # bytes as they sit in the archive (compressed for method 8)
    crc: int
    size: int  # declared uncompressed size
    method: int = 0
    mode: int = 0o100644
    flags: int = 0


def entry(name: str, plain: bytes, deflate: bool = True, **options) -> Entry:
    if deflate:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        stored = packer.compress(plain) + packer.flush()
        return Entry(name, stored, zlib.crc32(plain), len(plain), method=8, **options)
    return Entry(name, plain, zlib.crc32(plain), len(plain), **options)


def zeros_entry(name: str, size: int, prefix: bytes = b"") -> Entry:
    """A deflated member of ``prefix`` followed by zeros, ``size`` bytes in all, built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = packer.compress(prefix) + packer.flush(zlib.Z_FULL_FLUSH)
    block = bytes(MiB)
    chunk = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)  # independent: repeatable
    full, rest = divmod(size - len(prefix), MiB)
    tail = packer.compress(bytes(rest)) + packer.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(full):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return Entry(name, head + chunk * full + tail, crc, size, method=8)


def raw_zip(entries: list[Entry]) -> bytes:
    out, central = io.BytesIO(), io.BytesIO()
    for item in entries:
        name = item.name.encode("utf-8")
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, item.flags, item.method, 0, 33, item.crc,
                              len(item.stored), item.size, len(name), 0) + name + item.stored)
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x031E, 20, item.flags, item.method, 0, 33,
                                  item.crc, len(item.stored), item.size, len(name), 0, 0, 0, 0,
                                  item.mode << 16, offset) + name)
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), start, 0))
    return out.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {name: archive.read(name) for name in archive.namelist()}


def rezip(members: dict[str, bytes], fix_checksums: bool = True) -> bytes:
    """Members back into a bundle, with the manifest's checksums recomputed as an attacker would."""
    members = dict(members)
    if fix_checksums and "manifest.json" in members:
        try:
            manifest = json.loads(members["manifest.json"])
            manifest["checksums"] = {n: hashlib.sha256(b).hexdigest() for n, b in members.items()
                                     if n not in ("manifest.json", "signature")}
            members["manifest.json"] = json.dumps(manifest).encode()
        except (ValueError, TypeError, AttributeError):
            pass  # a manifest the case broke on purpose stays as it is
    return raw_zip([entry(name, blob) for name, blob in members.items()])


def with_manifest(base: bytes, edit, fix_checksums: bool = True) -> bytes:
    members = members_of(base)
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    return rezip(members, fix_checksums)


def with_manifest_text(base: bytes, edit) -> bytes:
    """Edit the manifest as text (for what JSON serialisers refuse to write: NaN, duplicate keys)."""
    members = members_of(base)
    manifest = json.loads(members["manifest.json"])
    manifest["checksums"] = {n: hashlib.sha256(b).hexdigest() for n, b in members.items() if n != "manifest.json"}
    members["manifest.json"] = edit(json.dumps(manifest)).encode()
    return raw_zip([entry(name, blob) for name, blob in members.items()])


def npz_of(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def with_arrays(base: bytes, edit) -> bytes:
    members = members_of(base)
    arrays = dict(np.load(io.BytesIO(members["arrays.npz"])))
    edit(arrays)
    members["arrays.npz"] = npz_of(arrays)
    manifest = json.loads(members["manifest.json"])
    manifest["array_keys"] = sorted(arrays)
    members["manifest.json"] = json.dumps(manifest).encode()
    return rezip(members)


def with_npz_member(base: bytes, key: str, raw_npy: bytes) -> bytes:
    members = members_of(base)
    inner = members_of(members["arrays.npz"])
    inner[f"{key}.npy"] = raw_npy
    members["arrays.npz"] = raw_zip([entry(n, b, deflate=False) for n, b in inner.items()])
    return rezip(members)


def npy_header(shape, descr: str = "<f8", fortran: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    return buffer.getvalue()


def with_estimator(base: bytes, blob: bytes) -> bytes:
    members = members_of(base)
    name = next(n for n in members if n.startswith("sklearn/"))
    members[name] = blob
    return rezip(members)


def skops_edit(base: bytes, edit_schema=None, edit_members=None) -> bytes:
    """Edit the skops member's schema (a dict) and/or its members, keeping it a valid zip."""
    members = members_of(base)
    name = next(n for n in members if n.startswith("sklearn/"))
    inner = members_of(members[name])
    if edit_schema is not None:
        schema = json.loads(inner["schema.json"])
        edit_schema(schema)
        inner["schema.json"] = json.dumps(schema).encode()
    if edit_members is not None:
        edit_members(inner)
    members[name] = raw_zip([entry(n, b, deflate=False) for n, b in inner.items()])
    return rezip(members)


def find_nodes(schema, predicate) -> list[dict]:
    found, pending = [], [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if predicate(node):
                found.append(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


# ------------------------------------------------------------------------------------------------
# Payloads that would create the canary if anything executed them
# ------------------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this runs ``touch CANARY`` (the classic pickle attack)."""

    def __init__(self, canary: Path):
        self.canary = str(canary)

    def __reduce__(self):
        return (os.system, (f"touch '{self.canary}'",))


def pickle_payload(canary: Path) -> bytes:
    return pickle.dumps(_Payload(canary))


def pickled_npy(canary: Path) -> bytes:
    buffer = io.BytesIO()
    array = np.empty(1, dtype=object)
    array[0] = _Payload(canary)
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def skops_blob(obj) -> bytes:
    import skops.io as sio

    return sio.dumps(obj)


# ------------------------------------------------------------------------------------------------
# Base bundles (real pipelines)
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def base_bundles() -> dict[str, bytes]:
    from core.pipeline import DetectionPipeline

    rng = np.random.default_rng(7)
    rows = rng.normal(size=(200, 3))
    names = ["a", "b", "c"]
    wide = rng.normal(size=(200, 10))
    series = np.sin(np.linspace(0, 30, 300))[:, None] + rng.normal(scale=0.05, size=(300, 1))
    return {
        "zscore": DetectionPipeline("zscore").fit(wide, feature_names=[f"f{i}" for i in range(10)]).to_bytes(key=None),
        "forest": DetectionPipeline("isolation_forest", {"n_estimators": 10}).fit(rows, feature_names=names)
        .to_bytes(key=None),
        "knn": DetectionPipeline("knn").fit(rows, feature_names=names).to_bytes(key=None),
        "svm": DetectionPipeline("one_class_svm").fit(rows, feature_names=names).to_bytes(key=None),
        "lstm": DetectionPipeline("lstm_ae", {"epochs": 1, "window": 8, "hidden_size": 4, "latent_size": 2,
                                              "num_layers": 1}).fit(series, feature_names=["v"]).to_bytes(key=None),
    }


def build_cases(canary: Path) -> list[HostileCase]:
    """At least 80 hostile bundles (names are unique and say what each does)."""
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.utils import _testing

    base = base_bundles()
    zs, forest, knn, svm, lstm = (base[k] for k in ("zscore", "forest", "knn", "svm", "lstm"))
    touch = f"touch '{canary}'"
    cases: list[HostileCase] = []

    def add(name, data, expect=REFUSE):
        cases.append(HostileCase(name, data, expect))

    # -- code execution through every member type ------------------------------------------------
    transformer = with_estimator(forest, skops_blob(
        FunctionTransformer(func=_testing.check_output, kw_args={"args": ["touch", str(canary)]})))
    add("skops_function_transformer_check_output", transformer)

    def name_function_as_sklearn(schema):  # subprocess.check_output, as scikit-learn re-exports it
        for node in find_nodes(schema, lambda d: d.get("__loader__") == "FunctionNode"):
            node["__module__"] = "sklearn.utils._testing"
            if isinstance(node.get("content"), dict):
                node["content"]["module_path"] = "sklearn.utils._testing"

    add("skops_function_transformer_check_output_named_sklearn", skops_edit(transformer, name_function_as_sklearn))
    add("skops_function_transformer_os_system", with_estimator(forest, skops_blob(FunctionTransformer(func=os.system))))
    add("skops_partial_os_system", with_estimator(forest, skops_blob(functools.partial(os.system, touch))))
    add("skops_builtins_eval", with_estimator(forest, skops_blob(eval)))
    add("skops_operator_attrgetter", with_estimator(forest, skops_blob(operator.attrgetter("system"))))

    def root_is(module, name, loader="ObjectNode"):
        def edit(schema):
            schema.update(__module__=module, __class__=name, __loader__=loader)
        return edit

    add("skops_root_named_os_system", skops_edit(forest, root_is("os", "system")))
    add("skops_root_named_posix_system_function", skops_edit(forest, root_is("posix", "system", "FunctionNode")))
    add("skops_root_named_builtins_eval", skops_edit(forest, root_is("builtins", "eval")))
    add("skops_root_sklearn_prefix_function", skops_edit(forest, root_is("sklearn.utils._testing", "check_output")))
    add("skops_root_other_sklearn_class", skops_edit(forest, root_is("sklearn.pipeline", "Pipeline")))

    def hide_in_attribute(node):
        def edit(schema):
            schema["content"]["content"]["max_samples"] = node
        return edit

    function_node = json.loads(zipfile.ZipFile(io.BytesIO(skops_blob(os.system))).read("schema.json"))
    partial_node = json.loads(zipfile.ZipFile(io.BytesIO(skops_blob(functools.partial(os.system, touch))))
                              .read("schema.json"))
    add("skops_function_hidden_in_attribute", skops_edit(forest, hide_in_attribute(function_node)))
    add("skops_partial_hidden_in_attribute", skops_edit(forest, hide_in_attribute(partial_node)))
    add("skops_type_node_builtins_eval", skops_edit(forest, hide_in_attribute(
        {"__class__": "eval", "__module__": "builtins", "__loader__": "TypeNode"})))
    add("skops_method_node", skops_edit(forest, hide_in_attribute(
        {"__class__": "Popen", "__module__": "subprocess", "__loader__": "MethodNode",
         "content": {"func": "wait", "obj": function_node}})))
    add("skops_reduce_on_object_node", skops_edit(forest, lambda s: s.update(
        __reduce__={"args": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                             "content": []}})))
    add("skops_object_array_of_functions", skops_edit(forest, hide_in_attribute(
        {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "json",
         "content": [function_node], "shape": {"__class__": "str", "__module__": "builtins",
                                               "__loader__": "JsonNode", "content": "[1]"}})))
    add("skops_hidden_key_node", skops_edit(forest, lambda s: s.setdefault("extra", function_node)))

    def pickled_skops_arrays(inner):
        name = next(n for n in inner if n.endswith(".npy"))
        inner[name] = pickled_npy(canary)

    add("skops_npy_is_pickled_object_array", skops_edit(forest, edit_members=pickled_skops_arrays))
    add("pickle_disguised_as_skops", with_estimator(forest, pickle_payload(canary)))
    add("pickle_disguised_as_npz", rezip({**members_of(zs), "arrays.npz": pickle_payload(canary)}))
    add("npz_member_pickled_object_array", with_npz_member(zs, "scaler.center", pickled_npy(canary)))
    add("npz_member_is_raw_pickle", with_npz_member(zs, "scaler.center", pickle_payload(canary)))
    add("manifest_scaler_os_system", with_manifest(zs, lambda m: m.update(scaler="os.system")))
    add("manifest_method_os_system", with_manifest(zs, lambda m: m.update(method="os.system")))
    add("manifest_threshold_strategy_os_system", with_manifest(
        zs, lambda m: m.update(threshold_spec={"strategy": "os.system", "k": 1})))

    # -- zip structure ----------------------------------------------------------------------------
    zs_members = members_of(zs)

    def extra(name, blob=b"x", **options):
        return raw_zip([entry(n, b) for n, b in zs_members.items()] + [entry(name, blob, **options)])

    add("path_traversal_member", extra("../../evil.py"))
    add("path_traversal_inside_sklearn", extra("sklearn/../../evil.skops"))
    add("absolute_member_name", extra("/tmp/evil.skops"))
    add("backslash_traversal_name", extra("..\\..\\evil.npz"))
    add("symlink_member", raw_zip([entry(n, b) for n, b in zs_members.items() if n != "arrays.npz"]
                                  + [entry("arrays.npz", b"/etc/passwd", mode=0o120777)]))
    add("directory_member", extra("sklearn/", b""))
    add("extra_unknown_member", extra("payload.pkl", pickle_payload(canary)))
    add("encrypted_flag_member", raw_zip([entry(n, b, flags=1 if n == "arrays.npz" else 0)
                                          for n, b in zs_members.items()]))
    add("duplicate_manifest", raw_zip([entry(n, b) for n, b in zs_members.items()]
                                      + [entry("manifest.json", zs_members["manifest.json"].replace(b'"zscore"',
                                                                                                    b'"iqr"'))]))
    add("duplicate_arrays", raw_zip([entry(n, b) for n, b in zs_members.items()]
                                    + [entry("arrays.npz", zs_members["arrays.npz"])]))
    npz_members = members_of(zs_members["arrays.npz"])
    add("duplicate_inside_npz", rezip({**zs_members, "arrays.npz": raw_zip(
        [entry(n, b, deflate=False) for n, b in npz_members.items()]
        + [entry("scaler.center.npy", npz_members["scaler.center.npy"], deflate=False)])}))
    forest_members = members_of(forest)
    skops_name = next(n for n in forest_members if n.startswith("sklearn/"))
    skops_inner = members_of(forest_members[skops_name])
    add("duplicate_skops_schema", rezip({**forest_members, skops_name: raw_zip(
        [entry(n, b, deflate=False) for n, b in skops_inner.items()]
        + [entry("schema.json", json.dumps(function_node).encode(), deflate=False)])}))
    add("missing_manifest", raw_zip([entry(n, b) for n, b in zs_members.items() if n != "manifest.json"]))
    add("missing_arrays", rezip({n: b for n, b in zs_members.items() if n != "arrays.npz"}))
    add("missing_estimator", rezip({n: b for n, b in forest_members.items() if not n.startswith("sklearn/")}))
    add("many_members", raw_zip([entry(n, b) for n, b in zs_members.items()]
                                + [entry(f"sklearn/x{i}.skops", b"") for i in range(2000)]))
    add("bzip2_member", _bzip2_bundle(zs_members))
    add("lying_declared_size", raw_zip([Entry(e.name, e.stored, e.crc, max(1, e.size // 2), e.method)
                                        for e in (entry(n, b) for n, b in zs_members.items())]))
    add("bad_crc", raw_zip([Entry(e.name, e.stored, e.crc ^ 1, e.size, e.method)
                            for e in (entry(n, b) for n, b in zs_members.items())]))
    add("not_a_zip", b"this is not a bundle at all")
    add("empty_file", b"")
    add("empty_zip", raw_zip([]))

    # -- zip bombs and array bombs ------------------------------------------------------------------
    add("zip_bomb_member_1gib", raw_zip([entry(n, b) for n, b in zs_members.items() if n != "arrays.npz"]
                                        + [zeros_entry("arrays.npz", 1024 * MiB)]))
    add("manifest_bomb_1gib", raw_zip([entry(n, b) for n, b in zs_members.items() if n != "manifest.json"]
                                      + [zeros_entry("manifest.json", 1024 * MiB, b'{"format": "')]))
    nested = raw_zip([entry(n, b, deflate=False) for n, b in npz_members.items() if n != "scaler.center.npy"]
                     + [zeros_entry("scaler.center.npy", 1024 * MiB, npy_header((128 * MiB,)))])
    add("npz_bomb_nested_1gib", rezip({**zs_members, "arrays.npz": nested}))
    add("npy_declares_1e12_elements", with_npz_member(zs, "scaler.center", npy_header((10**12,)) + bytes(80)))
    add("npy_declares_huge_2d", with_npz_member(zs, "scaler.center", npy_header((10**6, 10**6)) + bytes(80)))
    add("npy_declares_negative_shape", with_npz_member(zs, "scaler.center", npy_header((-1,)) + bytes(80)))
    add("npy_nine_dimensions", with_npz_member(zs, "scaler.center", npy_header((1,) * 9) + bytes(8)))
    add("npy_holds_fewer_bytes_than_declared", with_npz_member(zs, "scaler.center", npy_header((10,)) + bytes(72)))
    add("npy_holds_more_bytes_than_declared", with_npz_member(zs, "scaler.center", npy_header((10,)) + bytes(88)))
    for descr in ("|O", "<U4", "|S8", "<c16", "<M8[s]", "|V8"):
        add(f"npy_dtype_{descr.strip('<|').replace('[', '_').replace(']', '')}",
            with_npz_member(zs, "scaler.center", npy_header((10,), descr) + bytes(10 * np.dtype(descr).itemsize)))
    add("npy_structured_dtype_in_bundle_arrays", with_npz_member(
        zs, "scaler.center", npy_header((10,), [("a", "<f8")]) + bytes(80)))
    add("npy_bad_magic", with_npz_member(zs, "scaler.center", b"\x93NUMPY\x09\x00" + bytes(100)))
    add("npy_header_is_code", with_npz_member(
        zs, "scaler.center", b"\x93NUMPY\x01\x00" + struct.pack("<H", 54)
        + b"__import__('os').system('touch x')".ljust(53) + b"\n"))
    add("honest_200mb_zero_array", with_arrays(zs, lambda a: a.update({"detector.decision_scores_":
                                                                       np.zeros(25 * MiB)})))
    # the largest array the unpack budget admits for a small file: it loads, and shows what that costs
    add("zero_array_within_budget_24mb", with_arrays(zs, lambda a: a.update({"detector.decision_scores_":
                                                                             np.zeros(3 * MiB)})), EITHER)
    add("npy_fortran_order_valid", with_npz_member(zs, "scaler.center", npy_header((10,), fortran=True)
                                                   + np.ones(10).tobytes()), EITHER)

    def skops_npy_bomb(inner):
        name = next(n for n in inner if n.endswith(".npy"))
        inner[name] = npy_header((10**11,)) + bytes(16)

    add("skops_npy_bomb", skops_edit(forest, edit_members=skops_npy_bomb))

    # -- manifest: type confusion in every field, NaN and inf, limits -------------------------------
    field_values = {
        "format": [1, None, "other-format"], "format_version": ["1", True, 99, 1.5], "created": [5, "x" * 1000],
        "library_versions": [[1], {"numpy": 2}], "method": [1, None, ["zscore"], "missing_method"],
        "params": [[], "robust", {"evil": 1}, {"robust": {"x": 1}}, {"combine": "os.system"}],
        "threshold_spec": ["mean_std", {"strategy": "unknown_kind"}, {"strategy": "percentile", "q": 500},
                          {"strategy": "mean_std", "k": "1"}, {"strategy": "mean_std", "k": True}],
        "threshold": ["0.5", True, None, [1.0]],
        "threshold_description": [5, "x" * 5000], "scaler": [3, "os.system", None],
        "features": ["f0", [], [1, 2], ["f0"] * 10, [""] * 10, [f"f{i}" for i in range(11)]],
        "state": [[1], "x", {"detector.evil": 1}, {}], "array_keys": ["x", ["../x"], [1]],
        "estimator_keys": [["detector.estimator_"], "x"], "checksums": [[], {"arrays.npz": "00"}],
    }
    for field, values in field_values.items():
        for index, value in enumerate(values):
            add(f"manifest_{field}_{index}_{type(value).__name__}", with_manifest(
                zs, lambda m, f=field, v=value: m.update({f: v}), fix_checksums=field != "checksums"))
    state_values = {"detector.n_features_in_": ["10", 3, 10.5], "detector.threshold_": ["x", None],
                    "detector.threshold_strategy_": [{"strategy": "nope"}, 1],
                    "detector.history_": ["x", {"train_loss": ["a"]}]}
    for field, values in state_values.items():
        for index, value in enumerate(values):
            add(f"manifest_state_{field.split('.')[1]}_{index}", with_manifest(
                zs, lambda m, f=field, v=value: m["state"].update({f: v})))
    add("manifest_unknown_field", with_manifest(zs, lambda m: m.update(evil="x")))
    add("manifest_threshold_nan", with_manifest_text(zs, lambda t: _set_field(t, "threshold", "NaN")))
    add("manifest_threshold_infinity", with_manifest_text(zs, lambda t: _set_field(t, "threshold", "Infinity")))
    add("manifest_threshold_1e999", with_manifest_text(zs, lambda t: _set_field(t, "threshold", "1e999")))
    add("manifest_threshold_huge_int", with_manifest_text(zs, lambda t: _set_field(t, "threshold", "9" * 5000)))
    add("manifest_duplicate_key", with_manifest_text(zs, lambda t: t[:-1] + ', "threshold": 1e300}'))
    add("manifest_not_utf8", with_manifest_text(zs, lambda t: t.replace('"zscore"', '"zsc\udcffore"')
                                                .encode("utf-8", "surrogateescape").decode("latin-1")))
    add("manifest_top_level_list", with_manifest_text(zs, lambda t: "[" + t + "]"))
    add("deep_json_nesting_100k", with_manifest_text(zs, lambda t: t[:-1] + ', "x": ' + "[" * 100_000
                                                     + "]" * 100_000 + "}"))
    add("deep_json_nesting_40", with_manifest_text(zs, lambda t: t[:-1] + ', "x": ' + "[" * 40 + "]" * 40 + "}"))
    add("huge_manifest_20mb", with_manifest_text(zs, lambda t: t[:-1] + ', "x": "' + "a" * (20 * MiB) + '"}'))

    # -- schema mismatches ------------------------------------------------------------------------
    add("scaler_3_entries_for_10_features", with_arrays(zs, lambda a: a.update({"scaler.center": np.zeros(3),
                                                                                "scaler.scale": np.ones(3)})))
    add("profile_2d", with_arrays(zs, lambda a: a.update({"profile.mean": np.zeros((10, 2))})))
    add("decision_scores_empty", with_arrays(zs, lambda a: a.update({"detector.decision_scores_": np.zeros(0)})))
    add("scaler_scale_zero", with_arrays(zs, lambda a: a.update({"scaler.scale": np.zeros(10)})))
    add("scaler_scale_negative", with_arrays(zs, lambda a: a.update({"scaler.scale": -np.ones(10)})))
    add("array_nan", with_arrays(zs, lambda a: a.update({"detector.center_": np.full(10, np.nan)})))
    add("array_inf", with_arrays(zs, lambda a: a.update({"detector.spread_": np.full(10, np.inf)})))
    add("detector_array_wrong_length", with_arrays(zs, lambda a: a.update({"detector.center_": np.zeros(4)})))
    add("detector_array_missing", with_arrays(zs, lambda a: a.pop("detector.spread_")))
    add("array_not_in_manifest", rezip({**zs_members, "arrays.npz": npz_of(
        {**dict(np.load(io.BytesIO(zs_members["arrays.npz"]))), "detector.extra": np.zeros(2)})}))
    add("scaler_as_integers", with_arrays(zs, lambda a: a.update({"scaler.center": np.zeros(10, dtype=np.int64)})),
        EITHER)
    add("lstm_weights_wrong_shape", with_arrays(lstm, lambda a: a.update(
        {k: np.zeros((3, 3), dtype=np.float32) for k in list(a) if k.endswith("weight_ih_l0")})))
    add("lstm_params_describe_4gb_network", with_manifest(lstm, lambda m: m["params"].update(
        hidden_size=4096, num_layers=8)))
    add("knn_training_rows_wrong_width", _edit_neighbours(knn))
    add("forest_for_other_method", with_manifest(forest, lambda m: m.update(method="knn")))
    add("tree_child_index_out_of_range", _edit_tree_nodes(forest, "left_child", 10**6))
    add("tree_child_points_back", _edit_tree_nodes(forest, "left_child", 0))
    add("tree_feature_out_of_range", _edit_tree_nodes(forest, "feature", 10**6))
    add("tree_node_count_beyond_nodes", skops_edit(forest, lambda s: [
        n["content"]["content"]["node_count"].update(content="1000000")
        for n in find_nodes(s, lambda d: d.get("__loader__") == "TreeNode")]))
    add("svm_support_count_huge", _edit_svm_attribute(svm, "_n_support", np.array([10**9, 10**9], dtype=np.int32)))

    # -- truncation and bit flips -------------------------------------------------------------------
    for cut in (1, 4, 10, 30, 100, len(forest) // 4, len(forest) // 2, len(forest) * 3 // 4, len(forest) - 100,
                len(forest) - 22, len(forest) - 10, len(forest) - 1):
        add(f"truncated_at_{cut}", forest[:cut])
    rng = np.random.default_rng(2024)
    for position in sorted(rng.choice(len(zs), size=12, replace=False)):
        flipped = bytearray(zs)
        flipped[position] ^= 1 << int(rng.integers(8))
        add(f"bit_flip_at_{position}", bytes(flipped), EITHER)
    cases += ensemble_cases()
    return cases


def ensemble_cases() -> list[HostileCase]:
    """An ensemble bundle's nested layout abused: members it does not list, nesting, swapped estimators."""
    from core.pipeline import DetectionPipeline

    rows = np.random.default_rng(11).normal(size=(200, 3))
    base = DetectionPipeline("ensemble", {"members": "zscore + knn + isolation_forest(n_estimators=10)"}).fit(
        rows, feature_names=["a", "b", "c"]).to_bytes(key=None)
    member = "detector.member"

    def members(text):
        return with_manifest(base, lambda m: m["params"].update(members=text))

    def state(**entries):
        return with_manifest(base, lambda m: m["state"].update({k.replace("__", "."): v for k, v in entries.items()}))

    def forest_estimator_moved_to_knn():
        # knn keeps plain arrays; the forest's estimator is filed under knn, as an attacker would
        parts = members_of(base)
        knn, forest = f"{member}1.detector.estimator_", f"{member}2.detector.estimator_"
        parts[f"sklearn/{knn}.skops"] = parts.pop(f"sklearn/{forest}.skops")
        manifest = json.loads(parts["manifest.json"])
        manifest["estimator_keys"] = [knn if key == forest else key for key in manifest["estimator_keys"]]
        parts["manifest.json"] = json.dumps(manifest).encode()
        return rezip(parts)

    def without_scaler_kind(manifest):
        manifest["state"].pop(f"{member}0.scaler.kind")

    cases = [
        HostileCase("ensemble_member_is_an_ensemble", members("ensemble + zscore")),
        HostileCase("ensemble_of_ensembles_in_members_text", members("zscore + ensemble(members=zscore)")),
        HostileCase("ensemble_nested_member_state", state(**{f"{member}0.detector.member0.detector.threshold_": 1.0})),
        HostileCase("ensemble_member_beyond_its_list", state(**{f"{member}7.detector.threshold_": 1.0})),
        HostileCase("ensemble_member_missing_from_list", members("zscore + knn")),
        HostileCase("ensemble_members_reordered", members("knn + zscore + isolation_forest(n_estimators=10)")),
        HostileCase("ensemble_50_members", members(" + ".join(["zscore"] * 50))),
        HostileCase("ensemble_members_not_text", members(5)),
        HostileCase("ensemble_members_text_1mb", members("zscore + " + "knn" * 350_000)),
        HostileCase("ensemble_members_deep_parentheses", members("zscore + knn(" + "(" * 400 + ")" * 401)),
        HostileCase("ensemble_member_scaler_kind_unknown", state(**{f"{member}0.scaler.kind": "evil"})),
        HostileCase("ensemble_member_scaler_kind_missing", with_manifest(base, without_scaler_kind)),
        HostileCase("ensemble_member_threshold_text", state(**{f"{member}1.detector.threshold_": "x"})),
        HostileCase("ensemble_member_feature_count_wrong", state(**{f"{member}1.detector.n_features_in_": 7})),
        HostileCase("ensemble_member_estimator_moved_to_knn", forest_estimator_moved_to_knn()),
        HostileCase("ensemble_member_array_wrong_length", with_arrays(base, lambda a: a.update(
            {f"{member}0.scaler.center": np.zeros(7)}))),
        HostileCase("ensemble_member_scores_missing", with_arrays(base, lambda a: a.pop(
            f"{member}1.detector.decision_scores_"))),
        HostileCase("ensemble_member_array_nan", with_arrays(base, lambda a: a.update(
            {f"{member}0.detector.center_": np.full(3, np.nan)}))),
        HostileCase("ensemble_member_array_not_listed", with_arrays(base, lambda a: a.update(
            {f"{member}5.scaler.center": np.zeros(3)}))),
        HostileCase("ensemble_member_params_wrong_type", members("zscore + knn(n_neighbors=abc) + isolation_forest")),
        HostileCase("ensemble_member_more_neighbours_than_rows",
                    members("zscore + knn(n_neighbors=1000) + isolation_forest(n_estimators=10)"), EITHER),
    ]
    return cases


def _set_field(text: str, field: str, raw_value: str) -> str:
    manifest = json.loads(text)
    manifest[field] = "@@VALUE@@"
    return json.dumps(manifest).replace('"@@VALUE@@"', raw_value)


def _bzip2_bundle(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_BZIP2) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return out.getvalue()


def _edit_tree_nodes(base: bytes, field: str, value: int) -> bytes:
    def pick(node):
        return node.get("__loader__") == "TreeNode"

    members = members_of(base)
    name = next(n for n in members if n.startswith("sklearn/"))
    inner = members_of(members[name])
    schema = json.loads(inner["schema.json"])
    tree = find_nodes(schema, pick)[0]
    file = tree["content"]["content"]["nodes"]["file"]
    nodes = np.load(io.BytesIO(inner[file]))
    inner_node = int(np.flatnonzero(nodes["left_child"] != -1)[0])
    nodes[field][inner_node] = value
    buffer = io.BytesIO()
    np.save(buffer, nodes)
    inner[file] = buffer.getvalue()
    members[name] = raw_zip([entry(n, b, deflate=False) for n, b in inner.items()])
    return rezip(members)


def _attribute_node(schema: dict, attribute: str) -> dict:
    return schema["content"]["content"][attribute]


def _edit_svm_attribute(base: bytes, attribute: str, value: np.ndarray) -> bytes:
    members = members_of(base)
    name = next(n for n in members if n.startswith("sklearn/"))
    inner = members_of(members[name])
    node = _attribute_node(json.loads(inner["schema.json"]), attribute)
    buffer = io.BytesIO()
    np.save(buffer, value)
    inner[node["file"]] = buffer.getvalue()
    members[name] = raw_zip([entry(n, b, deflate=False) for n, b in inner.items()])
    return rezip(members)


def _edit_neighbours(base: bytes) -> bytes:
    return with_arrays(base, lambda a: a.update({"detector.reference_": np.ascontiguousarray(
        a["detector.reference_"][:, :2])}))


def write_cases(directory: Path, canary: Path) -> list[dict]:
    directory.mkdir(parents=True, exist_ok=True)
    index = []
    for number, case in enumerate(build_cases(canary)):
        path = directory / f"{number:03d}_{case.name}.bundle"
        path.write_bytes(case.data)
        index.append({"name": case.name, "file": path.name, "expect": case.expect, "bytes": len(case.data)})
    names = [item["name"] for item in index]
    assert len(set(names)) == len(names), "case names must be unique"
    (directory / "index.json").write_text(json.dumps(index, indent=1))
    return index


# ------------------------------------------------------------------------------------------------
# Runner (in a child process)
# ------------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    """Peak resident memory of this process image. /proc's VmHWM rather than getrusage's ru_maxrss:
    Linux carries ru_maxrss over from the parent through fork and exec, VmHWM starts afresh."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _address_space_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_cases(directory: Path, only: list[str] | None, cap_mb: float) -> dict:
    """Load each case; report what happened. The address space is capped ``cap_mb`` above the
    size after imports, so a load that tried to allocate more fails visibly instead of swapping."""
    import resource

    import torch

    from core.errors import BundleError
    from core.pipeline import DetectionPipeline

    torch.set_num_threads(1)
    # warm up what a load uses once (imports, thread pools), so the cap measures the load itself
    DetectionPipeline.from_bytes(base_warmup(), key=None)
    baseline_vm, baseline_rss = _address_space_mb(), _peak_rss_mb()
    limit = int((baseline_vm + cap_mb) * MiB)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    index = json.loads((directory / "index.json").read_text())
    results = {}
    for item in index:
        if only and item["name"] not in only:
            continue
        data = (directory / item["file"]).read_bytes()
        started = time.perf_counter()
        try:
            pipeline = DetectionPipeline.from_bytes(data, key=None)
            probe = np.repeat(pipeline.profile_mean_[None, :], 64, axis=0)
            scores = pipeline.score(probe)
            outcome = "loaded" if np.all(np.isfinite(scores)) else "crashed"
            message = f"scores finite: {bool(np.all(np.isfinite(scores)))}"
        except BundleError as exc:
            outcome, message = "refused", str(exc)
        except BaseException as exc:  # noqa: BLE001 - anything else is what the test is looking for
            outcome, message = "crashed", f"{type(exc).__name__}: {str(exc)[:300]}"
        del data
        results[item["name"]] = {"outcome": outcome, "message": message, "expect": item["expect"],
                                 "seconds": round(time.perf_counter() - started, 3), "bytes": item["bytes"],
                                 "peak_rss_mb": round(_peak_rss_mb(), 1)}
    return {"baseline_rss_mb": round(baseline_rss, 1), "baseline_vm_mb": round(baseline_vm, 1), "cap_mb": cap_mb,
            "results": results}


def base_warmup() -> bytes:
    from core.pipeline import DetectionPipeline

    rows = np.random.default_rng(0).normal(size=(50, 3))
    return DetectionPipeline("isolation_forest", {"n_estimators": 10}).fit(rows).to_bytes(key=None)


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        index = write_cases(Path(argv[1]), Path(argv[2]))
        print(json.dumps({"cases": len(index)}))
        return 0
    if argv[:1] == ["run"]:
        only = [argv[i + 1] for i, a in enumerate(argv) if a == "--only"]
        cap = float(argv[argv.index("--cap-mb") + 1]) if "--cap-mb" in argv else 512.0
        print(json.dumps(run_cases(Path(argv[1]), only or None, cap)))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
