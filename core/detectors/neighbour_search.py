"""k-nearest-neighbour search over fixed reference rows, for ``knn`` and ``lof``.

Exact search (the default): SciPy's kd-tree up to 6 features, scikit-learn's brute force above
(:func:`exact_search`, measured). faiss's exact flat search (float32, then exact distances of a
margin of candidates) was built and measured too: on 2 shared cores it ranged from 2x faster to
2x slower than scikit-learn's brute force from run to run (its OpenMP threads wait for each other
when other processes hold a core), so it is not used.

Approximate search (``search="approximate"``) walks faiss's HNSW graph of the reference rows
instead of scanning them all, and ranks the k candidates it finds by their exact float64
distances (ties by position), so a row's score does not depend on which other
rows are scored with it and a stream scoring one row at a time gets the batch's scores. Its recall
against exact search and its effect on ROC-AUC are printed by ``tests/bench/neighbours.py``. In
low dimension the kd-tree, exact and faster, is used for it too, and so is brute force against
fewer than ``APPROXIMATE_FROM_ROWS`` reference rows.

:func:`neighbour_algorithm` is the crossover for scikit-learn's own tree, used by the subsequence
detectors.

The graph is a cache built on first use from the reference rows (never saved in a bundle); faiss
is imported only then. Its OpenMP threads are left at faiss's default and the search width is
passed per call: nothing here changes a process-wide setting, since trainings run in worker threads.
"""

from __future__ import annotations

import numpy as np

SEARCHES = ("exact", "approximate")

#: Rows searched at once: about this many float64 elements of queries and their candidates (32 MiB).
BLOCK_ELEMENTS = 1 << 22
#: HNSW graph of the approximate search: links per row, and the candidate lists of its
#: construction and search (wider lists find more true neighbours, slower).
GRAPH_LINKS = 16
GRAPH_BUILD_CANDIDATES = 40
GRAPH_SEARCH_CANDIDATES = 16
#: Below this many reference rows brute force is about as fast as the graph and exact, so the
#: approximate search is exact there (measured: brute force 4x faster than the graph against
#: 1,000 x 140 rows, 2x slower against 5,000 x 10).
APPROXIMATE_FROM_ROWS = 3000


def neighbour_algorithm(n_reference: int, n_features: int) -> str:
    """scikit-learn's neighbour search that is fastest for a reference set of this shape.

    Measured on 2 CPU cores, 20,000 queries, k=5: a kd-tree wins only in low dimensions (at 2
    features it is 7x faster than brute force against 5,000 rows, 50x against 50,000), and loses
    from about 5 features on (at 10 features brute force is 4x faster; at 140, 18x). scikit-learn's
    own "auto" picks the tree up to 15 features, the wrong side of that crossover.
    """
    if n_features <= 4 or (n_features <= 6 and n_reference >= 20_000):
        return "kd_tree"
    return "brute"


def exact_search(n_reference: int, n_features: int) -> str:
    """The exact search of ``knn`` and ``lof`` for a reference set of this shape: "tree" or "brute".

    The tree is SciPy's ``cKDTree`` (its queries spread over the cores by ``workers``), faster than
    scikit-learn's: against 5,000 rows, 50,000 queries, k=5, on 2 shared cores it took 0.06 s at 3
    features (scikit-learn's tree 0.15 s, brute force 0.81 s), 0.30 s at 5 (brute force 0.91 s),
    0.39 s at 6 (0.75 s), 0.67 s at 7 (0.82 s) and 1.11 s at 8 (1.00 s).
    """
    return "tree" if n_features <= 6 else "brute"


class NeighbourIndex:
    """Nearest reference rows of query rows, exact or approximate (see the module's text).

    Parameters
    ----------
    reference : array of shape (n, d)
        The rows searched (a fitted detector's training rows).
    search : {"exact", "approximate"}
    """

    def __init__(self, reference: np.ndarray, search: str = "exact"):
        if search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
        self.reference = np.ascontiguousarray(reference, dtype=np.float64)
        n, d = self.reference.shape
        self.method = exact_search(n, d)
        if search == "approximate" and self.method != "tree" and n >= APPROXIMATE_FROM_ROWS:
            self.method = "hnsw"
        self._center = self.reference.mean(axis=0)
        self._engine = self._build(self.reference - self._center)

    def _build(self, centred: np.ndarray):
        if self.method == "tree":
            from scipy.spatial import cKDTree

            return cKDTree(self.reference)
        if self.method == "brute":
            from sklearn.neighbors import NearestNeighbors

            # exactly scikit-learn's plain call (no n_jobs: its brute force runs its own threads)
            return NearestNeighbors(algorithm="brute").fit(self.reference)
        import faiss

        rows = np.ascontiguousarray(centred, dtype=np.float32)
        index = faiss.IndexHNSWFlat(rows.shape[1], GRAPH_LINKS)
        index.hnsw.efConstruction = GRAPH_BUILD_CANDIDATES
        # one row per call: faiss links the rows of one call in parallel, in an order that varies from
        # run to run; one at a time the graph is the same every time it is rebuilt (after a bundle load)
        for row in range(rows.shape[0]):
            index.add(rows[row:row + 1])
        return index

    # -- public ---------------------------------------------------------------------------------
    def kneighbors(self, X: np.ndarray, k: int, *, leave_out_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Distances (ascending, float64) and reference positions of each row's ``k`` nearest rows.

        With ``leave_out_self``, ``X`` is the reference set itself and row i is not its own
        neighbour (as with scikit-learn's ``kneighbors(None)``).
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = self.reference.shape[0]
        if k < 1 or k + int(leave_out_self) > n:
            raise ValueError(f"cannot find {k} neighbours among {n} reference rows")
        if self.method == "brute":
            return self._engine.kneighbors(None if leave_out_self else X, n_neighbors=k)
        if self.method == "tree":
            return self._tree_kneighbors(X, k, leave_out_self)
        distances = np.empty((X.shape[0], k))
        positions = np.empty((X.shape[0], k), dtype=np.int64)
        step = max(1, BLOCK_ELEMENTS // ((k + 1) * X.shape[1]))
        for start in range(0, X.shape[0], step):
            rows = slice(start, min(start + step, X.shape[0]))
            own = np.arange(rows.start, rows.stop) if leave_out_self else None
            distances[rows], positions[rows] = self._block(X[rows], k, own)
        return distances, positions

    # -- the searches ---------------------------------------------------------------------------
    def _tree_kneighbors(self, X, k, leave_out_self):
        found = k + int(leave_out_self)
        distances, positions = self._engine.query(X, k=found, workers=-1)  # SciPy's own threads
        distances, positions = distances.reshape(-1, found), positions.reshape(-1, found).astype(np.int64)
        if not leave_out_self:
            return distances, positions
        # as scikit-learn's kneighbors(None): drop the row itself, or the last one found when more
        # duplicates of the row than k came before it
        dropped = positions == np.arange(X.shape[0])[:, None]
        dropped[~dropped.any(axis=1), -1] = True
        keep = ~dropped
        return distances[keep].reshape(-1, k), positions[keep].reshape(-1, k)

    def _block(self, X, k, own):
        """One block of rows: candidates from the graph, then their exact distances."""
        # the graph ranks its candidates by float32 distance already: k of them (and the row itself)
        wanted = min(self.reference.shape[0], k + (own is not None))
        centred = np.ascontiguousarray(X - self._center, dtype=np.float32)
        _, candidates = self._search(centred, wanted)
        distances, positions, exact_k = self._refine(X, candidates, k, own)
        missing = ~np.isfinite(exact_k)
        if missing.any():  # the graph walk found fewer than k rows: search those rows against all
            n = self.reference.shape[0]
            sub_own = None if own is None else own[missing]
            every = np.broadcast_to(np.arange(n), (int(missing.sum()), n))
            distances[missing], positions[missing], _ = self._refine(X[missing], every, k, sub_own)
        return distances, positions

    def _search(self, centred, wanted):
        import faiss

        # the search width passed per call, not set on the shared index: safe from any thread
        # (measured at 10 features, k=5: a list of 16 finds 98% of the true neighbours, 24 finds 99%
        # in 1.3x the time, 32 99.6% in 1.5x)
        parameters = faiss.SearchParametersHNSW(efSearch=max(GRAPH_SEARCH_CANDIDATES, wanted + 8))
        return self._engine.search(centred, wanted, params=parameters)

    def _refine(self, X, candidates, k, own):
        """The candidates' exact distances, the ``k`` smallest by (distance, position), and the k-th squared."""
        from core.detectors.candidate_ranking import rank_candidates

        candidates = np.ascontiguousarray(candidates, dtype=np.int64)
        n = candidates.shape[0]
        own = np.full(n, -1, dtype=np.int64) if own is None else np.ascontiguousarray(own, dtype=np.int64)
        distances, positions, kth_squared = np.empty((n, k)), np.empty((n, k), dtype=np.int64), np.empty(n)
        rank_candidates(np.ascontiguousarray(X, dtype=np.float64), self.reference, candidates, own, k,
                        distances, positions, kth_squared)
        return distances, positions, kth_squared
