"""Workers: background threads and process pools, the server-wide slots and every NORMLAB_* setting."""
