r"""The 16 entry-level categories of model-vs-human and the decision of a 1000-class ImageNet model.

A 1000-class ImageNet model answers with one of the 16 categories the human observers chose from
(Geirhos et al. 2018; 2021): its softmax probabilities are averaged over the ImageNet classes
of each category, and the category with the highest mean is the decision,

.. math:: \hat c = \arg\max_{c} \frac{1}{|I_c|} \sum_{i \in I_c} \operatorname{softmax}(z)_i ,

with :math:`I_c` the ImageNet indices of category :math:`c` (:data:`IMAGENET_INDICES`).
The categories are in alphabetical order; model-vs-human sorts the 16 means with
``np.flip(np.argsort(...))`` and takes the first, so of two equal means the later category
in that order wins, as here.

Source: bethgelab/model-vs-human, ``modelvshuman/helper/human_categories.py`` (the category
list and the ``<category>_indices`` lists, which leave out the ImageNet classes the authors
excluded) and ``modelvshuman/datasets/decision_mappings.py``
(``ImageNetProbabilitiesTo16ClassesMapping``, aggregation ``np.mean``).

References:
    Geirhos R, Temme CRM, Rauber J, Schütt HH, Bethge M, Wichmann FA (2018). Generalisation in
    humans and deep neural networks. NeurIPS.
    Geirhos R, Narayanappa K, Mitzkus B, Thieringer T, Bethge M, Wichmann FA, Brendel W (2021).
    Partial success in closing the gap between human and machine vision. NeurIPS.
"""

from __future__ import annotations

import numpy as np


def _span(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


#: ImageNet (ILSVRC-2012) class indices of each of the 16 categories, as model-vs-human lists them.
IMAGENET_INDICES: dict[str, list[int]] = {
    "airplane": [404],
    "bear": [294, 295, 296, 297],
    "bicycle": [444, 671],
    "bird": [8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, *_span(87, 96),
             98, 99, 100, *_span(127, 133), *_span(135, 145)],
    "boat": [472, 554, 625, 814, 914],
    "bottle": [440, 720, 737, 898, 899, 901, 907],
    "car": [436, 511, 817],
    "cat": _span(281, 286),
    "chair": [423, 559, 765, 857],
    "clock": [409, 530, 892],
    "dog": [*_span(152, 191), *_span(193, 203), *_span(205, 226), *_span(228, 241), *_span(243, 250),
            *_span(252, 257), 259, 261, 262, 263, *_span(265, 268)],
    "elephant": [385, 386],
    "keyboard": [508, 878],
    "knife": [499],
    "oven": [766],
    "truck": [555, 569, 656, 675, 717, 734, 864, 867],
}

#: The 16 categories in alphabetical order (the order of model-vs-human's decision mapping).
CATEGORIES: tuple[str, ...] = tuple(sorted(IMAGENET_INDICES))


def category_probabilities(probabilities: object) -> np.ndarray:
    """Mean softmax probability of each category's ImageNet classes.

    Args:
        probabilities: ``(n, 1000)`` softmax outputs of an ImageNet model.

    Returns:
        ``(n, 16)`` means, columns in :data:`CATEGORIES` order.

    Raises:
        ValueError: not ``(n, 1000)``, or values outside [0, 1] (model-vs-human asserts both).
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(f"the 16-class decision needs (n, 1000) ImageNet probabilities; got shape {probs.shape}")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError("the 16-class decision needs softmax probabilities in [0, 1]; apply a softmax to the "
                         "logits first")
    return np.stack([probs[:, IMAGENET_INDICES[c]].mean(axis=1) for c in CATEGORIES], axis=1)


def decide(probabilities: object) -> np.ndarray:
    """The category each row decides for: the highest category mean (ties: the later category).

    Args:
        probabilities: ``(n, 1000)`` ImageNet softmax outputs, or ``(n, 16)`` probabilities of
            a model whose outputs are the 16 categories in :data:`CATEGORIES` order (our
            extension for models trained on the 16 categories; used as they are).

    Returns:
        ``(n,)`` array of category names.

    Example:
        >>> p = np.full((1, 1000), 0.5 / 998); p[0, 404] = 0.3; p[0, 152] = 0.2
        >>> decide(p).tolist()      # airplane's one class: mean 0.3; dog's 109 classes: mean < 0.01
        ['airplane']
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim == 2 and probs.shape[1] == len(CATEGORIES):
        means = probs
    else:
        means = category_probabilities(probs)
    order = np.argsort(means, axis=1, kind="stable")
    return np.asarray(CATEGORIES, dtype=object)[order[:, -1]]
