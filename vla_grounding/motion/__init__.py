"""ROS-free motion: the pick-and-place sequence, IK from a URDF, Cartesian joint trajectories, held-object state."""
