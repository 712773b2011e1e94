"""The analysis of bench/analysis/run: one module per experiment, shared launch, chart and
report modules."""
