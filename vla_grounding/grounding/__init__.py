"""CLIP region grounding (no ROS).

- clip_backend: ClipBackend, one loader for the shipped small CLIP, pretrained open_clip models and local files
- proposals: training-free object regions from one RGB-D view, with camera-image crops
- scoring: batched crop/phrase scoring and per-model confidence calibration
- policy: ClipRegionsPolicy ("clip_regions"): instruction + frame -> PickPlacePlan or GroundingRefused
- train_clip / sim_data / referring: training data from the simulator, `vla-grounding train clip`, referring accuracy
"""
