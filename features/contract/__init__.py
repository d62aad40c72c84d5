"""The data contract (DESIGN.md §2): what a user brings, and how it is held to the rules.

Schemas, row checks, validation, censored cells, units, rejects, the folder loader, the
import mappings and the product spec. It is the floor the feature code stands on: the
feature modules of :mod:`features` import it, it never imports them.
"""
