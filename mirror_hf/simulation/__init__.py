"""Simulated counseling sessions: the resistant client agent, the session loop, faces per turn, the batch runner."""
