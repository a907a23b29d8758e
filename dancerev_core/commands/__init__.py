"""Subcommands of `dancerev`; each module has `add_parser(subparsers)` setting `run`."""

from . import ablate, convert, dataset, evaluate, features, generate, recipe, retarget, train

SUBCOMMANDS = (ablate, convert, dataset, evaluate, features, generate, recipe, retarget,
               train)
