"""sensor_msgs/Image decoding gives the same pixels and the same refusals through cv_bridge and numpy."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ros

BRIDGES = [pytest.param("numpy", id="numpy"),
           pytest.param("cv_bridge", id="cv_bridge", marks=pytest.mark.extras("cv_bridge", "cv2"))]


@pytest.fixture(params=BRIDGES)
def bridge(request):
    from vla_grounding.nodes.image_conversion import load_cv_bridge

    return None if request.param == "numpy" else load_cv_bridge(required=True)


RGB = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)


def padded(msg, extra: int):
    """The same image with ``extra`` bytes of padding at the end of every row."""
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
    msg.data = np.hstack([rows, np.zeros((msg.height, extra), np.uint8)]).tobytes()
    msg.step += extra
    return msg


@pytest.mark.parametrize("encoding,pixels", [
    ("rgb8", RGB), ("bgr8", RGB[:, :, ::-1]), ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])),
    ("bgra8", np.dstack([RGB[:, :, ::-1], np.zeros(RGB.shape[:2], np.uint8)])),
])
def test_colour_encodings_decode_to_rgb(bridge, encoding, pixels):
    from vla_grounding.nodes.image_conversion import color_to_rgb, numpy_to_image

    np.testing.assert_array_equal(color_to_rgb(numpy_to_image(pixels, encoding), bridge), RGB)
    np.testing.assert_array_equal(color_to_rgb(padded(numpy_to_image(pixels, encoding), 3), bridge), RGB)


def test_depth_encodings_decode_to_metres_with_invalid_pixels_as_nan(bridge):
    from vla_grounding.nodes.image_conversion import depth_image_to_metres, numpy_to_image

    mm = np.array([[0, 500, 1234], [65535, 1, 0]], np.uint16)
    metres = depth_image_to_metres(numpy_to_image(mm, "16UC1"), bridge)
    np.testing.assert_allclose(metres, [[np.nan, 0.5, 1.234], [65.535, 0.001, np.nan]], rtol=1e-6)
    f = np.array([[0.0, np.inf, -1.0], [0.75, np.nan, 2.0]], np.float32)
    metres = depth_image_to_metres(padded(numpy_to_image(f, "32FC1"), 4), bridge)
    np.testing.assert_allclose(metres, [[np.nan, np.nan, np.nan], [0.75, np.nan, 2.0]])


def test_big_endian_depth_decodes_the_same(bridge):
    from vla_grounding.nodes.image_conversion import depth_image_to_metres, numpy_to_image

    mm = np.array([[1000, 2000]], np.uint16)
    msg = numpy_to_image(mm, "16UC1")
    msg.data, msg.is_bigendian = mm.astype(">u2").tobytes(), 1
    np.testing.assert_allclose(depth_image_to_metres(msg, bridge), [[1.0, 2.0]])


@pytest.mark.parametrize("change,reason", [
    (lambda m: setattr(m, "encoding", "yuv422"), "unsupported image encoding 'yuv422'"),
    (lambda m: setattr(m, "step", 2), "image step 2 < width*channels*bytes 15"),
    (lambda m: setattr(m, "data", bytes(10)), "image data has 10 bytes, 60 expected"),
    (lambda m: setattr(m, "width", 0), "image has no pixels"),
])
def test_malformed_images_get_the_same_reason(bridge, change, reason):
    from vla_grounding.nodes.image_conversion import color_to_rgb, numpy_to_image

    msg = numpy_to_image(RGB, "rgb8")
    change(msg)
    with pytest.raises(ValueError, match=reason.replace("*", r"\*")):
        if msg.encoding == "yuv422":
            from vla_grounding.nodes.image_conversion import image_to_numpy

            image_to_numpy(msg, bridge)
        else:
            color_to_rgb(msg, bridge)
