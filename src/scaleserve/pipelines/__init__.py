"""Pipelines: several steps (served models and light functions) served as one endpoint.

A ``Pipeline`` subclass declares its steps; ``graph.py`` reads them into a checked graph
(no cycle, every step's input the type its sources give); ``executor.py`` runs an item
through it, each model step through the broker (so batched by that model's own workers),
independent steps at once; ``broker.py`` serves pipelines beside models behind the
``Broker`` seam, so every route and the job runner take them as they take models. Inside
a job, each finished step is recorded (``steps.py``) and a rerun resumes after it.
"""
