import numpy as np
import pytest

from vla_grounding.motion.sequence import STAGE_NAMES, SequenceConfig, pick_place_stages
from vla_grounding.perception.workspace import Workspace

WS = Workspace()


def test_stages_go_down_to_the_objects_and_travel_high():
    stages = pick_place_stages(np.array([0.5, 0.1, 0.04]), 0.3, np.array([0.4, -0.1, 0.0]), -0.2, WS)
    assert tuple(s.name for s in stages) == STAGE_NAMES
    by = {s.name: s for s in stages}
    assert by["descend_pick"].position[2] == pytest.approx(0.03)  # pressed 1 cm into contact
    assert by["grasp"].tool_on is True and by["release"].tool_on is False
    assert by["descend_place"].position[2] == pytest.approx(0.04 + SequenceConfig().release_gap)
    assert by["move_to_place"].position[2] >= 0.25 and by["lift"].position[2] >= 0.25
    assert by["move_to_place"].yaw == -0.2 and by["approach_pick"].yaw == 0.3


@pytest.mark.parametrize("pick,why", [
    ([0.5, 0.9, 0.02], "outside the workspace"),
    ([0.5, 0.0, -0.05], "below the table"),
    ([np.nan, 0.0, 0.02], "finite"),
])
def test_bad_targets_are_refused_before_any_stage(pick, why):
    with pytest.raises(ValueError, match=why):
        pick_place_stages(np.array(pick), 0.0, np.array([0.4, 0.0, 0.0]), 0.0, WS)
