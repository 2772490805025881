"""cogmodels.agents."""
