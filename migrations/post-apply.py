"""
Reload the functions, views, triggers and grants of the sql/ tree.

yoyo runs this after the migrations; `pgwarden migrate` runs it on every
apply, so that an upgrade which only changes functions needs no migration.
"""

from yoyo import step

from pgwarden.install import load_tree

__depends__: set[str] = set()

steps = [step(load_tree)]
