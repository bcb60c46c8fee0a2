"""dwebsocket's ``backends`` package, for the imports ported code keeps."""
