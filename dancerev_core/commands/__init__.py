"""Subcommands of `dancerev`; each module has `add_parser(subparsers)` setting `run`."""

from . import convert, dataset, features, generate, retarget, train

SUBCOMMANDS = (convert, dataset, features, generate, retarget, train)
