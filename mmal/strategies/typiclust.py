import numpy as np

from mmal.registry import STRATEGIES
from .base import BaseStrategy
from .clustering import kmeans, typicality


@STRATEGIES.register_module()
class TypiClustStrategy(BaseStrategy):
    """TypiClust (Hacohen, Dekel & Weinshall, ICML 2022): label the most typical
    sample of each dense region, for a start without any label.

    The candidates' features (with the labeled samples' features, where there
    are any) are clustered by k-means into as many clusters as there will be
    labels; then, one label at a time, the cluster with the fewest labels (the
    largest first among equals) gives its most typical unchosen candidate.
    Typicality is 1 / the mean distance to the K nearest neighbours within the
    cluster, K = ``num_neighbors`` or half the cluster's size where that is
    fewer (as the authors' code does). Clusters smaller than ``min_cluster_size``
    are skipped, as in the paper (outliers make no good first labels), unless
    the budget cannot be met without them.

    As the initial strategy (``train_cfg.initial_strategy``) its features come
    from a feature source (:mod:`mmal.features`); as a cycle's strategy, from the
    model.

    Args:
        num_neighbors (int): K of the typicality. Defaults to 20 (the paper's).
        min_cluster_size (int): Smaller clusters are skipped. Defaults to 5.
    """

    def __init__(self, num_neighbors: int = 20, min_cluster_size: int = 5):
        self.num_neighbors = num_neighbors
        self.min_cluster_size = min_cluster_size

    def select(self, candidates, num, rng):
        features = candidates.features().reshape(len(candidates), -1)
        labeled = _labeled_features(candidates, features.shape[1])
        num = min(num, len(candidates))
        if num == 0:
            return [], []
        points = np.concatenate([labeled, features])
        clusters = kmeans(points, len(labeled) + num, rng)
        labeled_clusters, clusters = clusters[:len(labeled)], clusters[len(labeled):]
        num_clusters = int(max(clusters.max(), labeled_clusters.max(initial=-1))) + 1
        sizes = np.bincount(np.concatenate([labeled_clusters, clusters]),
                            minlength=num_clusters)
        taken = np.bincount(labeled_clusters, minlength=num_clusters)
        members = [np.flatnonzero(clusters == c) for c in range(num_clusters)]
        # Typicality within each cluster, ranked once: a cluster gives its
        # candidates most typical first.
        order = []
        for c in range(num_clusters):
            if len(members[c]):
                inside = np.concatenate([np.flatnonzero(labeled_clusters == c),
                                         members[c] + len(labeled)])
                k = max(1, min(self.num_neighbors, len(inside) // 2))
                typical = typicality(points[inside], k)[len(inside) - len(members[c]):]
                ranked = np.argsort(-typical, kind='stable')
                order.append([(int(members[c][i]), float(typical[i])) for i in ranked])
            else:
                order.append([])
        chosen, scores = [], []
        for _ in range(num):
            left = [c for c in range(num_clusters) if order[c]]
            dense = [c for c in left if sizes[c] >= self.min_cluster_size]
            # Fewest labels first, then the largest cluster; then the lowest id.
            c = min(dense or left, key=lambda c: (taken[c], -sizes[c], c))
            position, score = order[c].pop(0)
            taken[c] += 1
            chosen.append(position)
            scores.append(score)
        return [candidates.keys[i] for i in chosen], scores


def _labeled_features(candidates, dim: int) -> np.ndarray:
    """The labeled samples' features, or none (a cold start, or a source
    without them)."""
    try:
        labeled = np.asarray(candidates.labeled_features())
    except KeyError:
        labeled = np.zeros((0, dim))
    if labeled.size == 0:
        return np.zeros((0, dim))
    return labeled.reshape(len(labeled), -1)
