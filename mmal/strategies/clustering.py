"""Clustering pieces shared by the cold-start strategies (TypiClust, ProbCover):
k-means from scikit-learn, and distances in chunks so memory stays bounded."""
from typing import Iterator, Tuple

import numpy as np
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans


def kmeans(features: np.ndarray, num_clusters: int,
           rng: np.random.Generator) -> np.ndarray:
    """Cluster labels of ``features`` (N, D) into ``num_clusters`` clusters.

    scikit-learn's ``KMeans``, or ``MiniBatchKMeans`` beyond 50 clusters (as the
    TypiClust authors do), seeded from ``rng``: the same features and stream
    give the same clusters.
    """
    num_clusters = max(1, min(num_clusters, len(features)))
    seed = int(rng.integers(2**31 - 1))
    if num_clusters <= 50:
        model = KMeans(n_clusters=num_clusters, n_init=10, random_state=seed)
    else:
        model = MiniBatchKMeans(n_clusters=num_clusters, n_init=3,
                                batch_size=max(1024, 3 * num_clusters),
                                random_state=seed)
    return model.fit_predict(np.asarray(features, dtype=np.float64))


def distance_chunks(points: np.ndarray, others: np.ndarray, chunk_size: int = 2048
                    ) -> Iterator[Tuple[int, torch.Tensor]]:
    """(start, Euclidean distances of ``points[start:start + chunk_size]`` to
    every row of ``others``), chunk by chunk."""
    points = torch.as_tensor(points, dtype=torch.float64)
    others = torch.as_tensor(others, dtype=torch.float64)
    for start in range(0, len(points), chunk_size):
        yield start, torch.cdist(points[start:start + chunk_size], others)


def typicality(features: np.ndarray, num_neighbors: int = 20) -> np.ndarray:
    """TypiClust's typicality of each point among ``features``: the inverse of the
    mean distance to its ``num_neighbors`` nearest neighbours (itself excluded;
    fewer where there are fewer points)."""
    count = len(features)
    k = min(num_neighbors, count - 1)
    if k < 1:
        return np.ones(count)
    mean_distance = np.empty(count)
    for start, dist in distance_chunks(features, features):
        # The k + 1 smallest include the point itself, at distance 0.
        nearest = torch.topk(dist, k + 1, dim=1, largest=False).values
        mean_distance[start:start + len(dist)] = nearest[:, 1:].mean(1).numpy()
    return 1.0 / (mean_distance + 1e-12)
