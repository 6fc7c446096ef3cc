"""``python -m rtpref.annotate ...`` runs the ``rtpref annotate`` command."""

from rtpref.annotate.command import annotate

if __name__ == "__main__":
    annotate()
