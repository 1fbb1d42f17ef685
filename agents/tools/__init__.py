"""The tools a model may call, in one registry (agents/tools/registry.py).

types: specs, calls, outcomes and registry entries; code, execute, files: the code
tools and their handlers; skills: the skill tools; results and output: what the model
and the browser are told. Importing this package imports none of them.
"""
