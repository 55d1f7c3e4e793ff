"""The worker process: batcher, model runner, runtime adapters."""
