"""The Open Inference Protocol v2 (KServe / Triton) over HTTP, with Triton's binary tensor
data extension: metadata derived from each model's types, inference through the same
queue and batching as the native API."""
