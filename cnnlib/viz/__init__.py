"""Figures for the book, drawn with matplotlib.

One module per topic; each function returns a matplotlib Figure (or an
animation) and never calls ``plt.show()`` itself, so the same code serves
the notebooks, the tests and a learner's own experiments.
"""

# Re-exports, one line per topic module (each helper adds its own line).
