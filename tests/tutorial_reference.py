"""The tutorial's two published functions, kept verbatim as the slow reference for gcnn.

Source: the blog post *Group Convolution Neural Networks* (toy code in the GitHub
repository ``wenhangao21/Tutorials``, folder ``Equivariance``), section 4.2
"Demonstration: Lifting Correlation with the p4 Rotation Group" (``lift_correlation``)
and section 4.4 "Demonstration: Cross Correlation with the p4 Rotation Group"
(``p4_group_convolution``).  What gcnn promises about these functions is
docs/design.md, §1 Tutorial functions.

Changes from the published text, and nothing else:

* ONE fix: the published ``lift_correlation`` body reads a global ``conv_kernel``
  (``np.rot90(conv_kernel, i)``), not its ``kernel`` argument, so as published it
  raises NameError unless such a global happens to exist.  Here it rotates ``kernel``.
* The published code hard-codes ``mode='same', boundary='symm'`` (and scipy's default
  ``fillvalue=0``).  Both functions take them as keyword-only parameters whose defaults
  are exactly those published values, so a default call is the published call.

Everything else is kept as published, on purpose, including its quirks:
``convolve2d`` (true convolution, despite the name "correlation"), the sum over the four
rotated kernels per feature map (which never mixes orientations), and
``np.zeros_like(features)`` as p4's output buffer (the output takes the features' dtype,
and a non-square kernel in 'full'/'valid' mode fails with ValueError when the
differently shaped results are combined).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import convolve2d


def lift_correlation(image, kernel, *, mode="same", boundary="symm", fillvalue=0):
    """
    Apply lifting correlation/convolution on an image.

    Parameters:
    - image (numpy.ndarray): The input image as a 2D array, size (s,s)
    - conv_kernel (numpy.ndarray): The convolution kernel as a 2D array.

    Returns:
    - numpy.ndarray: Resulting feature maps after lifting correlation, size (|G|,s,s)
    """
    results = []
    for i in range(4):  # apply rotations to the kernel and convolve with the input
        # FIX: the published line is `np.rot90(conv_kernel, i)` (a global); use the argument.
        rotated_kernel = np.rot90(kernel, i)
        result = convolve2d(image, rotated_kernel, mode=mode, boundary=boundary,
                            fillvalue=fillvalue)
        results.append(result)
    return np.array(results)


def p4_group_convolution(features, kernel, *, mode="same", boundary="symm", fillvalue=0):
    """
    Perform P4 group convolution on a set of feature maps on P4 group.

    Parameters:
    - features (numpy.ndarray): A 3D array of feature maps with shape (|G|, s, s).
    - kernel (numpy.ndarray): A 2D array representing the convolution kernel.

    Returns:
    - numpy.ndarray: feature maps after the P4 group convolution with shape (|G|, s, s).
    """
    output = np.zeros_like(features)
    # Perform convolution for each feature map, convolve over both planar and angular axes
    for i in range(features.shape[0]):
        feature_map = features[i]
        result = np.zeros_like(feature_map)
        # SE(2) group on the kernels
        for j in range(4):
            rotated_kernel = np.rot90(kernel, j)
            result += convolve2d(feature_map, rotated_kernel, mode=mode, boundary=boundary,
                                 fillvalue=fillvalue)
        output[i] = result
    return output
