"""What a bundle's scikit-learn members may hold, and the checks that make them safe to run.

skops loads an estimator without unpickling, but it builds whatever types the file names, and some
scikit-learn types index raw arrays from the file in compiled code without bounds checks (a tree's
child and feature indices, a support-vector model's counts, a neighbour tree's index arrays). So:

1. the file's type graph is read before skops sees it, and every node must be one of the exact
   (loader, type) pairs below: the estimator classes this product saves and the containers and
   numeric arrays they are made of; no function, method, ``partial``, operator or object array;
2. after loading, each estimator's arrays are checked for what compiled code relies on
   (:func:`check_loaded`), and neighbour search trees are rebuilt from the stored training rows
   instead of being trusted.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .errors import BundleError

#: Estimator classes the product saves (scikit-learn's ``module.Class`` names), per method.
ESTIMATOR_CLASSES = {
    "isolation_forest": "sklearn.ensemble._iforest.IsolationForest",
    "one_class_svm": "sklearn.svm._classes.OneClassSVM",
    "lof": "sklearn.neighbors._lof.LocalOutlierFactor",
    "knn": "sklearn.neighbors._unsupervised.NearestNeighbors",
    "pca": "sklearn.decomposition._pca.PCA",
    "windowed_pca": "sklearn.decomposition._pca.PCA",
    "random_forest": "sklearn.ensemble._forest.RandomForestClassifier",
}

#: Methods whose bundles now hold plain arrays; bundles saved before still hold their estimator and are read.
ARRAY_STATE_METHODS = frozenset({"lof", "knn"})

_NUMPY_SCALARS = ("numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "numpy.bool_")
#: Every (skops loader, type) pair a trusted file may contain.
ALLOWED_NODES: frozenset[tuple[str, str]] = frozenset(
    [("ObjectNode", name) for name in set(ESTIMATOR_CLASSES.values())]
    + [("ObjectNode", "sklearn.tree._classes.ExtraTreeRegressor"),
       ("ObjectNode", "sklearn.tree._classes.DecisionTreeClassifier"),
       ("ObjectNode", "sklearn.neighbors._kd_tree.KDTree"),
       ("ObjectNode", "sklearn.neighbors._ball_tree.BallTree"),
       ("ObjectNode", "sklearn.metrics._dist_metrics.EuclideanDistance64"),
       ("TreeNode", "sklearn.tree._tree.Tree"),
       ("NdArrayNode", "numpy.ndarray"),
       ("DictNode", "builtins.dict"), ("ListNode", "builtins.list"), ("TupleNode", "builtins.tuple"),
       ("TypeNode", "builtins.str"), ("TypeNode", "builtins.float"), ("TypeNode", "builtins.int")]
    + [("NdArrayNode", name) for name in _NUMPY_SCALARS]
    + [("TypeNode", name) for name in _NUMPY_SCALARS]
    + [("JsonNode", f"builtins.{name}") for name in ("str", "int", "float", "bool", "NoneType")]
)
#: The type names handed to skops as trusted: exactly the allowed ones, nothing by prefix.
TRUSTED_TYPE_NAMES = sorted({name for _, name in ALLOWED_NODES})
MAX_JSON_NODE_CHARS = 1000


def check_type_graph(schema: Any, array_shapes: dict[str, tuple]) -> None:
    """Raise :class:`BundleError` unless every node of a skops ``schema.json`` is allowed.

    Walks the whole document (any dict holding ``__class__`` is a node, wherever it sits), so that
    a type hidden in an unexpected field is seen too. ``array_shapes`` maps the file's ``.npy``
    members to their declared shapes (read from their headers, see :mod:`core.bundle`).
    """
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if "__class__" in node or "__loader__" in node or "__module__" in node:
            loader, module, name = node.get("__loader__"), node.get("__module__"), node.get("__class__")
            if not all(isinstance(v, str) for v in (loader, module, name)):
                raise BundleError("An estimator in the bundle has a malformed type record; refusing to load it.")
            if (loader, f"{module}.{name}") not in ALLOWED_NODES:
                raise BundleError(f"The bundle contains a type that is not allowed ({module}.{name}, {loader}); "
                                  "refusing to load it, since it could run code.")
            if loader == "NdArrayNode" and node.get("type") != "numpy":
                raise BundleError("An estimator in the bundle holds an object array; refusing to load it.")
            if loader == "JsonNode":
                content = node.get("content")
                if not isinstance(content, str) or len(content) > MAX_JSON_NODE_CHARS or content[:1] in ("[", "{"):
                    raise BundleError("An estimator in the bundle holds a malformed value; refusing to load it.")
            if "__reduce__" in node and loader != "TreeNode":
                raise BundleError("An estimator in the bundle asks for a constructor call; refusing to load it.")
            if loader == "NdArrayNode" and node.get("file") not in array_shapes:
                raise BundleError("An estimator in the bundle refers to an array it does not hold; the bundle is corrupt.")
            if loader == "TreeNode":
                _check_tree_record(node, array_shapes)
        pending.extend(node.values())


def _check_tree_record(node: dict, array_shapes: dict[str, tuple]) -> None:
    """scikit-learn copies a tree's nodes by their stored count: the count must match the arrays.

    Checked before loading, since a count larger than the node array makes compiled code read
    past its end as soon as the tree is built.
    """
    try:
        fields = node["content"]["content"]
        count = json.loads(fields["node_count"]["content"])
        shapes = [array_shapes[fields[name]["file"]] for name in ("nodes", "values")]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError("A tree in the bundle is malformed; the bundle is corrupt.") from exc
    if isinstance(count, bool) or not isinstance(count, int) or count < 1 or any(
            len(shape) < 1 or shape[0] != count for shape in shapes):
        raise BundleError("A tree in the bundle declares more nodes than it holds; the bundle is corrupt or crafted.")


def _array(value, what: str, *, ndim: int | None = None, kinds: str = "fiub") -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds or value.dtype.hasobject:
        raise BundleError(f"The estimator's {what} is not a numeric array; the bundle is corrupt.")
    if ndim is not None and value.ndim != ndim:
        raise BundleError(f"The estimator's {what} has {value.ndim} dimensions, {ndim} expected; the bundle is corrupt.")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise BundleError(f"The estimator's {what} holds NaN or infinite values; the bundle is corrupt.")
    return value


def _count(value, what: str, low: int = 0, high: int = 2**40) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise BundleError(f"The estimator's {what} is not a whole number in [{low}, {high}]; the bundle is corrupt.")
    return int(value)


def _check_tree(tree, n_features: int) -> None:
    """Child indices point forward (so every walk from the root ends at a leaf), features exist."""
    state = tree.__getstate__()
    nodes = state["nodes"]
    count = _count(state["node_count"], "tree size", 1)
    if nodes.shape != (count,) or state["values"].shape[0] != count:
        raise BundleError("A tree in the bundle has inconsistent sizes; the bundle is corrupt.")
    if tree.n_features != n_features:
        raise BundleError("A tree in the bundle expects another number of features; the bundle is corrupt.")
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    index = np.arange(count)
    leaf = left == -1
    inner = ~leaf
    if not (np.all(right[leaf] == -1)
            and np.all((left[inner] > index[inner]) & (left[inner] < count))
            and np.all((right[inner] > index[inner]) & (right[inner] < count))
            and np.all((feature[inner] >= 0) & (feature[inner] < n_features))):
        raise BundleError("A tree in the bundle has invalid node links; the bundle is corrupt or crafted.")
    _array(nodes["threshold"], "tree thresholds")
    _array(state["values"], "tree values")


def _check_forest(estimator, tree_class: str) -> None:
    n_features = _count(estimator.n_features_in_, "number of features", 1)
    trees = estimator.estimators_
    if not isinstance(trees, list) or not trees:
        raise BundleError("The forest in the bundle has no trees; the bundle is corrupt.")
    feature_sets = getattr(estimator, "estimators_features_", None)
    for position, member in enumerate(trees):
        if f"{type(member).__module__}.{type(member).__name__}" != tree_class:
            raise BundleError("The forest in the bundle holds an unexpected member; the bundle is corrupt.")
        used = n_features
        if feature_sets is not None:
            chosen = _array(feature_sets[position], "feature subset", ndim=1, kinds="iu")
            if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= n_features:
                raise BundleError("The forest in the bundle names features it does not have; the bundle is corrupt.")
            used = chosen.size
        if _count(member.n_features_in_, "tree feature count", 1) != used:
            raise BundleError("A tree in the bundle expects another number of features; the bundle is corrupt.")
        _check_tree(member.tree_, used)


def _check_svm(estimator) -> None:
    if estimator.kernel != "rbf" or estimator._sparse is not False:
        raise BundleError("The one-class SVM in the bundle uses settings this product never saves.")
    vectors = _array(estimator.support_vectors_, "support vectors", ndim=2, kinds="f")
    n_vectors = vectors.shape[0]
    n_support = _array(estimator._n_support, "support counts", ndim=1, kinds="iu")
    if (vectors.shape[1] != _count(estimator.n_features_in_, "number of features", 1) or n_vectors < 1
            or n_support.shape != (2,) or n_support.min() < 0 or n_support.max() > n_vectors
            or _array(estimator._dual_coef_, "dual coefficients", ndim=2, kinds="f").shape != (1, n_vectors)
            or _array(estimator._intercept_, "intercept", ndim=1, kinds="f").shape != (1,)
            or _array(estimator.support_, "support indices", ndim=1, kinds="iu").shape != (n_vectors,)
            or estimator._probA.size or estimator._probB.size
            or not (np.isfinite(estimator._gamma) and float(estimator._gamma) > 0)):
        raise BundleError("The one-class SVM in the bundle has inconsistent arrays; the bundle is corrupt or crafted.")


def _rebuild_neighbours(estimator) -> None:
    """Check the stored training rows and rebuild the search tree from them (stored trees are not trusted)."""
    from sklearn.neighbors import BallTree, KDTree

    rows = _array(estimator._fit_X, "training rows", ndim=2, kinds="f")
    if (rows.shape[0] != _count(estimator.n_samples_fit_, "training size", 1)
            or rows.shape[1] != _count(estimator.n_features_in_, "number of features", 1)
            or estimator.effective_metric_ != "euclidean" or estimator.effective_metric_params_ != {}):
        raise BundleError("The neighbour model in the bundle is inconsistent; the bundle is corrupt or crafted.")
    leaf_size = _count(estimator.leaf_size, "leaf size", 1, 100000)
    kinds = {"kd_tree": KDTree, "ball_tree": BallTree, "brute": None}
    if estimator._fit_method not in kinds:
        raise BundleError("The neighbour model in the bundle uses a search this product never saves.")
    tree_class = kinds[estimator._fit_method]
    estimator._tree = None if tree_class is None else tree_class(rows, leaf_size, metric="euclidean")
    if hasattr(estimator, "n_neighbors_"):  # LocalOutlierFactor
        k = _count(estimator.n_neighbors_, "neighbour count", 1, rows.shape[0] - 1)
        if (_array(estimator._lrd, "densities", ndim=1, kinds="f").shape != (rows.shape[0],)
                or _array(estimator._distances_fit_X_, "distances", ndim=2, kinds="f").shape != (rows.shape[0], k)):
            raise BundleError("The LOF model in the bundle is inconsistent; the bundle is corrupt or crafted.")


def _check_pca(estimator) -> None:
    components = _array(estimator.components_, "components", ndim=2, kinds="f")
    if (components.shape[1] != _count(estimator.n_features_in_, "number of features", 1)
            or _array(estimator.mean_, "mean", ndim=1, kinds="f").shape != (components.shape[1],)):
        raise BundleError("The PCA model in the bundle is inconsistent; the bundle is corrupt.")


def check_loaded(estimator, method: str) -> None:
    """Raise :class:`BundleError` unless ``estimator`` is the class ``method`` saves, with consistent arrays."""
    name = f"{type(estimator).__module__}.{type(estimator).__name__}"
    if ESTIMATOR_CLASSES.get(method) != name:
        raise BundleError(f"The bundle's estimator is a {type(estimator).__name__}, which the method "
                          f"'{method}' never saves; refusing to load it.")
    try:
        if method == "isolation_forest":
            _check_forest(estimator, "sklearn.tree._classes.ExtraTreeRegressor")
        elif method == "random_forest":
            _check_forest(estimator, "sklearn.tree._classes.DecisionTreeClassifier")
        elif method == "one_class_svm":
            _check_svm(estimator)
        elif method in ("lof", "knn"):
            _rebuild_neighbours(estimator)
        else:
            _check_pca(estimator)
    except BundleError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise BundleError(f"The bundle's estimator is incomplete or inconsistent: {exc}") from exc
