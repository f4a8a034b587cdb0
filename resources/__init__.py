"""Data files of fntk (diagram library, styles), installed as the package ``fntk_resources``.

Read them with ``fntk_core.resources.resource_path``; never by a path relative to the source tree.
"""
