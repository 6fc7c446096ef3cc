"""The ``rtpref`` command line."""

from __future__ import annotations

import click

from rtpref.annotate.command import annotate


@click.group()
def main() -> None:
    """rtpref: preference learning with response times."""


main.add_command(annotate)

if __name__ == "__main__":
    main()
