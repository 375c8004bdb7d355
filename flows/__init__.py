"""Prefect orchestration of the rcaflows engine: thin flows and tasks around ``rcaflows``.

* ``flows.detection`` - the hourly ``detection`` flow;
* ``flows.rca``       - the ``rca`` flow (subflow of detection, or its own deployment);
* ``flows.serve``     - serve both deployments from one process.

The ``rcaflows`` command imports this package (it ships beside ``rcaflows`` in the wheel, and
editable installs put the repository root on ``sys.path``); ``prefect.yaml`` reaches the same
flows by file path (``flows/detection.py:detection``).
"""
