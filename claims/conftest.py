"""The claims suite: one module per claim of the conjecture, each parametrized over the zoo.

The plumbing -- models as parameters, the ``judge``, ``report`` and ``load_agent`` fixtures,
the committed record and the report -- is avec's pytest plugin (:mod:`avec.pytest_plugin`),
so the same claims can judge any models folder: ``pytest claims/ --avec-models DIR``.
"""

from avec import families, trials
from avec.pytest_plugin import model_params


def maze_model_params():
    """``model_params`` of every maze family with the top-right vector beside the cheese one
    (CheeseMaze, the padded maze with turns and with Procgen's moves): the maze paper's
    claims about its two drives judge every maze agent."""
    return [
        param
        for name, family in families.FAMILIES.items()
        if "top_right" in family.extra_features
        for param in model_params(name)
    ]


def judge_sequentially(
    judge,
    claim,
    model_id,
    agent,
    measure,
    outcome,
    effects,
    per_trial=1,
    make=None,
    first=0,
    notes=None,
    **options,
):
    """Draw the claim's trials sequentially (:func:`avec.trials.sequential`: held-out levels
    in seed order, chunk by chunk, until its target of informative trials, its cap or the end
    of the level space), then judge them; the report's notes say why drawing stopped."""
    drawn = trials.sequential(agent, claim, measure, outcome, per_trial, make, first)
    note = drawn.note() if not notes else f"{notes} {drawn.note()}"
    return judge(
        claim,
        model_id,
        drawn.trials,
        drawn.measure(measure),
        outcome,
        effects,
        notes=note,
        **options,
    )


__all__ = ["judge_sequentially", "maze_model_params", "model_params"]
