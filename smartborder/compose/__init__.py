"""Composition roots: one function per entry point builds its object graph from :class:`Settings`.

``backoffice serve``, the demo and the end-to-end tests call the same function (the production
path is the tested path); each module is imported on its own, only when its entry point runs.
"""
