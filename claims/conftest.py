"""The claims suite: one module per claim of the conjecture, each parametrized over the zoo.

The plumbing -- models as parameters, the ``judge``, ``report`` and ``load_agent`` fixtures,
the committed record and the report -- is avec's pytest plugin (:mod:`avec.pytest_plugin`),
so the same claims can judge any models folder: ``pytest claims/ --avec-models DIR``.
"""

from avec.pytest_plugin import model_params

__all__ = ["model_params"]
