"""dwebsocket's default backend, for the imports ported code keeps."""
