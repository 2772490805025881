"""cogmodels.fits."""
