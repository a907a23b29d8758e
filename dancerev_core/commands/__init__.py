"""Subcommands of `dancerev`; each module has `add_parser(subparsers)` setting `run`."""

from . import (
    ablate,
    batch,
    convert,
    dance,
    dataset,
    demo,
    evaluate,
    features,
    generate,
    lift,
    lift_train,
    recipe,
    retarget,
    train,
    worker,
)

SUBCOMMANDS = (ablate, batch, convert, dance, dataset, demo, evaluate, features, generate, lift,
               lift_train, recipe, retarget, train, worker)
