"""djmesh.dsp."""
