"""Simulations and demonstrations: simulated devices staged per traveller, simulation directories, the
demo. They plug into the production compositions (``smartborder.compose``) at the device ports only.

Nothing a deployed gate, kiosk or back office imports may import this package (an import-linter
contract in pyproject.toml); only the CLI's ``--sim`` paths, the demo, the benches and the tests do.
"""
