"""Layer data: the array protocol, multiscale pyramids, and readers for files and URLs."""

from tilescope.data.protocol import (
    ArrayLike,
    MultiScaleData,
    as_layer_data,
    is_multiscale,
    validate_array,
)

__all__ = ["ArrayLike", "MultiScaleData", "as_layer_data", "is_multiscale", "validate_array"]
