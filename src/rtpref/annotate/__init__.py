"""The annotation page: collect choices and response times from people (``rtpref annotate``)."""
