"""scikit-learn's handwritten digits as int8 images for the 3x24x24 CNN, with a fixed split.

The data is ``sklearn.datasets.load_digits``: 1797 grey 8x8 images of the digits 0 to 9, pixel
values 0 to 16, shipped inside the scikit-learn package (nothing is downloaded). Each image
becomes an int8 network input ``(3, 24, 24)`` in three exact integer steps:

1. **Quantisation**: ``q = round(v * 127 / 16)``, rounding half up, i.e. ``(127 * v + 8) // 16``
   (values 0 to 127). The input scale is therefore ``INPUT_SCALE = 1 / 127``: the float value
   the model was trained on is ``q / 127``, close to ``v / 16`` (within ``1 / 254``).
2. **Resize** to 24x24 by nearest neighbour: every pixel repeated into a 3x3 block
   (``np.kron(q, np.ones((3, 3)))``), so no new values appear.
3. **Channels**: the grey image copied to 3 identical channels, ``(3, 24, 24)`` in C, H, W order.

The split (:data:`SPLIT`) is ``sklearn.model_selection.train_test_split`` of the indices 0 to
1796 with ``test_size=0.2``, ``random_state=0`` and ``stratify`` by label: 1437 training and 360
test images, every digit in the same proportion in both.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

__all__ = ["INPUT_SCALE", "SPLIT", "load", "quantize_images", "split_indices"]

INPUT_SCALE = 1 / 127
SPLIT = {
    "function": "sklearn.model_selection.train_test_split",
    "test_size": 0.2,
    "random_state": 0,
    "stratify": "labels",
    "n_train": 1437,
    "n_test": 360,
}
# The blocks of np.kron: each 8x8 pixel covers 3x3 pixels of the 24x24 image.
_UPSCALE = 3
_SPLITS = ("train", "test", "all")


def quantize_images(images):
    """8x8 digit images (values 0 to 16) to int8 network inputs, as described above.

    Parameters
    ----------
    images : array_like of int, shape (N, 8, 8)
        Whole numbers 0 to 16 (sklearn's float64 images are accepted when they are whole).

    Returns
    -------
    numpy.ndarray of int8, shape (N, 3, 24, 24)
        ``(127 * v + 8) // 16`` per pixel, each repeated 3x3, in 3 identical channels.
    """
    images = np.asarray(images)
    v = images.astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"images must have shape (N, 8, 8), not {images.shape}")
    if not np.array_equal(v, images) or v.min(initial=0) < 0 or v.max(initial=0) > 16:
        raise ValueError("images values must be whole numbers from 0 to 16")
    q = (127 * v + 8) // 16
    big = np.kron(q, np.ones((1, _UPSCALE, _UPSCALE), dtype=np.int64))
    return np.repeat(big[:, np.newaxis], 3, axis=1).astype(np.int8)


def split_indices(split):
    """Indices into ``load_digits()`` of the ``"train"``, ``"test"`` or ``"all"`` images.

    Train and test are in the (shuffled) order ``train_test_split`` returns; all is 0 to 1796.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    labels = load_digits().target
    indices = np.arange(len(labels))
    if split == "all":
        return indices
    train, test = train_test_split(
        indices, test_size=SPLIT["test_size"], random_state=SPLIT["random_state"], stratify=labels
    )
    return train if split == "train" else test


def load(split):
    """The int8 images and labels of one split.

    Parameters
    ----------
    split : str
        ``"train"`` (1437 images), ``"test"`` (360) or ``"all"`` (1797).

    Returns
    -------
    images : numpy.ndarray of int8, shape (N, 3, 24, 24)
        Network inputs (:func:`quantize_images`), values 0 to 127.
    labels : numpy.ndarray of int64, shape (N,)
        The digits, 0 to 9.
    """
    indices = split_indices(split)
    digits = load_digits()
    return quantize_images(digits.images[indices]), digits.target[indices].astype(np.int64)
