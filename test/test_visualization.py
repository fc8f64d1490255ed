import numpy as np
import pytest

from vla_grounding.visualization import blend, colormap, mark, plan_overlay


def test_colormap_spans_cold_to_hot():
    c = colormap(np.array([[0.0, 1.0]]))
    assert c[0, 0, 2] > c[0, 0, 0] and c[0, 1, 0] > c[0, 1, 2]


def test_overlay_marks_pick_and_place_and_checks_shapes():
    img = np.zeros((20, 30, 3), np.uint8)
    heat = {"pick": np.random.default_rng(0).random((20, 30)), "place": np.zeros((20, 30))}
    out = plan_overlay(img, heat, (5, 5), (10, 20))
    assert out.shape == (20, 64, 3)
    assert (out[1, 1:10] == [255, 40, 40]).all()  # top edge of the pick mark
    assert mark(img, (100, 100), np.array([1, 2, 3], np.uint8)).sum() == 0
    with pytest.raises(ValueError):
        blend(img, np.zeros((5, 5)))
