"""Camera model, RGB-D -> top-down heightmap, pixel <-> base-frame conversions (no ROS)."""
