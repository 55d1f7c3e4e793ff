"""Rendering a deployment for Kubernetes: kustomize manifests (a base and an overlay per
environment) for the gateway, one worker Deployment per model with its KEDA
``ScaledObject``, and the monitoring objects."""
