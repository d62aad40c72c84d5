"""The twin's verdict on clonescout's process recommendations (is the advice better?).

The digital twin (:mod:`simulator`) knows each simulated clone's true biology, so it can
re-run a clone under the condition clonescout recommends and say, noise-free, whether the
clone really makes more in-spec product there (:mod:`twineval.process`: the closed loop
over held-out campaigns, and the next-experiment loop against random and space-filling
designs).

This is an evaluation, not part of the product: it stands on everything (the twin, the
contract, the models and the training of the process model) and nothing in clonescout
imports it; the benchmarks (``bench/bench_whatif.py``) and the tests use it.
"""
