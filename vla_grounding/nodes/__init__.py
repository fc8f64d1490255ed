"""rclpy nodes: the only part of the package that imports ROS."""
