"""Figures with matplotlib (the ``plot`` extra): one module per story.

- ``ufm.plot.geometry``: class means and classifiers in 2-D/3-D, Gram heat maps, metrics along a solve;
- ``ufm.plot.mixup``: mixed-sample features on the classifier plane (channels);
- ``ufm.plot.federated``: client drift and classifier bias against label skew (``ufm.federated``);
- ``ufm.plot.phase``: phase diagrams from sweep results with theory threshold curves.

Every function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show()``.
"""
