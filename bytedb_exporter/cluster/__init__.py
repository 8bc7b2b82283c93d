"""Workers (local and remote) and the coordinator's cluster view, psutil sampling, profiling."""
