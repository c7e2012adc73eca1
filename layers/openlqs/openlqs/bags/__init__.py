"""Log file formats openlqs indexes (ROS 1 bags first)."""
