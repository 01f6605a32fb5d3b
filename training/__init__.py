"""Offline half of depth_ros: data, losses, the self-supervised trainer and evaluation."""
